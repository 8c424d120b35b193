"""The `watchpost` command: check, run, once, sources, alerts, demo. Parses arguments; no logic.

Exit statuses (`bot.exitcodes.ExitStatus`): 0 done, 1 a bug, 2 bad configuration or usage (or a
worker that must not start), 3 `once` did part of its work, 4 `once` did none of it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime

import storage
from bot.app import open_app, open_database, run_once, run_worker, x_polling_plan
from bot.errors import ConfigError, StartupError
from bot.exitcodes import ExitStatus, once_status
from bot.log import setup_logging
from bot.model import StoredStatement, Watchlist
from bot.redact import redact_text
from bot.settings import Settings, load_settings
from bot.watchlist import format_interval, load_watchlist

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="watchpost",
        description="Watch official statements in a conflict and alert Telegram channels.",
    )
    p.add_argument(
        "--config", help="watchlist YAML (default: $WATCHPOST_CONFIG or config/watchlist.yaml)"
    )
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("check", help="validate the watchlist and settings, print a summary")
    console_help = "print alerts on the console instead of sending them (recorded as shown)"
    run = sub.add_parser("run", help="run the worker until SIGINT/SIGTERM")
    run.add_argument("--console", action="store_true", help=console_help)
    once = sub.add_parser("once", help="poll every source once, store, and send")
    once.add_argument("--json", action="store_true", help="print each new statement as a JSON line")
    once.add_argument(
        "--dry-run",
        action="store_true",
        help="poll and print, but write nothing to the database and send nothing",
    )
    once.add_argument("--console", action="store_true", help=console_help)
    sub.add_parser("sources", help="a table of sources and their polling state")
    alerts = sub.add_parser("alerts", help="act on the outbox")
    alerts_sub = alerts.add_subparsers(dest="alerts_command", required=True)
    resend = alerts_sub.add_parser(
        "resend", help="queue alerts that were only shown on the console to be sent"
    )
    resend.add_argument(
        "--shown", action="store_true", required=True, help="the alerts shown on the console"
    )
    resend.add_argument("--channel", help="only this channel's (its id in the watchlist)")
    channels = sub.add_parser("channels", help="act on channels")
    channels_sub = channels.add_subparsers(dest="channels_command", required=True)
    resume = channels_sub.add_parser("resume", help="deliver a paused channel's alerts")
    resume.add_argument("channel", help="the channel's id in the watchlist")
    resume.add_argument(
        "--failed", action="store_true", help="also send the alerts it refused for good before"
    )
    demo = sub.add_parser("demo", help="replay a bundled scenario through local fake servers")
    demo.add_argument("--speed", type=float, default=1.0, help="replay faster (2 = twice as fast)")
    return p


def _load(args: argparse.Namespace) -> tuple[Settings, Watchlist]:
    settings = load_settings()
    path = args.config or settings.config_path
    return settings, load_watchlist(path)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `watchpost` console script."""
    args = _parser().parse_args(argv)
    if args.command == "demo":
        from bot.demo import run_demo

        return asyncio.run(run_demo(speed=args.speed))
    try:
        settings, watchlist = _load(args)
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        print(f"{len(exc.problems)} problem(s) found", file=sys.stderr)
        return 2
    secrets = [
        s.get_secret_value()
        for s in (settings.telegram_bot_token, settings.x_bearer_token)
        if s is not None
    ]
    setup_logging(settings.log_level, settings.log_format, secrets)
    if getattr(args, "console", False):
        settings = settings.model_copy(update={"console": True})
    try:
        if args.command == "check":
            return _check(settings, watchlist)
        if args.command == "sources":
            return asyncio.run(_sources(settings, watchlist))
        if args.command == "channels":
            return asyncio.run(_resume_channel(settings, args.channel, failed=args.failed))
        if args.command == "alerts":
            return asyncio.run(_resend_shown(settings, channel=args.channel))
        if args.command == "once":
            return asyncio.run(_once(settings, watchlist, as_json=args.json, dry_run=args.dry_run))
        return asyncio.run(_run(settings, watchlist))
    except StartupError as exc:
        print(f"watchpost: {exc}", file=sys.stderr)
        return ExitStatus.USAGE


def _check(settings: Settings, watchlist: Watchlist) -> int:
    kinds = Counter(s.kind.value for s in watchlist.sources())
    print(f"{watchlist.path}: ok")
    print(f"  speakers: {len(watchlist.speakers)}")
    print("  sources:  " + ", ".join(f"{n} {k}" for k, n in sorted(kinds.items())))
    if kinds.get("x"):
        print("            (x sources are validated; this version does not poll them yet)")
    print(
        f"  topics:   {len(watchlist.topics)} ({sum(len(t.terms) for t in watchlist.topics)} terms)"
    )
    print(f"  channels: {len(watchlist.channels)}")
    print("settings:")
    for name, value in settings.describe().items():
        print(f"  {name} = {value}")
    return 0


async def _run(settings: Settings, watchlist: Watchlist) -> int:
    async with open_app(settings, watchlist) as app:
        await run_worker(app)
    return 0


async def _once(settings: Settings, watchlist: Watchlist, *, as_json: bool, dry_run: bool) -> int:
    async with open_app(settings, watchlist, dry_run=dry_run) as app:
        outcomes, report = await run_once(app)
        if as_json:
            if dry_run:
                statements = list(app.poller.previewed)
            else:
                ids = [i for o in outcomes for i in o.statement_ids]
                with storage.session_scope(app.sessions) as session:
                    statements = storage.load_statements(session, ids)
            for st in statements:
                print(json.dumps(statement_json(st), ensure_ascii=False))
        errors = sum(1 for o in outcomes if o.error)
        delivered = report.sent + report.shown
        undelivered = len(report.undelivered)
        if dry_run:
            summary = "dry run: nothing stored, nothing sent"
        else:
            shown = f"{report.shown} shown on the console, " if report.shown else ""
            summary = (
                f"{report.sent} alerts sent, {shown}{undelivered} not delivered "
                f"({report.failed} refused)"
            )
        print(
            f"once: {len(outcomes)} sources polled ({errors} failed), "
            f"{sum(o.new_statements for o in outcomes)} new statements, "
            f"{sum(o.duplicates for o in outcomes)} duplicates, {summary}",
            file=sys.stderr,
        )
    return once_status(
        sources=len(outcomes),
        failed_sources=errors,
        delivered=delivered,
        undelivered=undelivered,
    )


async def _resume_channel(settings: Settings, channel: str, *, failed: bool) -> int:
    """`watchpost channels resume ID`: the operator fixed the chat; its alerts go out."""
    engine = await open_database(settings)
    try:
        with storage.session_scope(storage.make_sessions(engine)) as session:
            n = storage.resume_channel(
                session, channel, now=datetime.now(UTC), include_failed=failed
            )
    finally:
        engine.dispose()
    if n is None:
        print(f"watchpost: no channel {channel!r} in the database", file=sys.stderr)
        return ExitStatus.USAGE
    print(f"channel {channel} resumed: {n} alert(s) queued for the next worker")
    return ExitStatus.OK


async def _resend_shown(settings: Settings, *, channel: str | None) -> int:
    """`watchpost alerts resend --shown`: the operator sends what a console worker showed."""
    engine = await open_database(settings)
    try:
        with storage.session_scope(storage.make_sessions(engine)) as session:
            n = storage.resend_shown(session, now=datetime.now(UTC), channel_id=channel)
    finally:
        engine.dispose()
    where = f" of channel {channel}" if channel else ""
    print(f"{n} alert(s){where} shown on the console queued to be sent by the next worker")
    return ExitStatus.OK


def statement_json(st: StoredStatement) -> dict[str, object]:
    """One statement as `once --json` prints it."""
    return {
        "source": redact_text(st.source_key),
        "speaker": st.speaker_id,
        "external_id": st.external_id,
        "url": st.url,
        "published": st.published_at.isoformat(),
        "language": st.language,
        "title": st.title,
        "text": st.text,
        "matches": [
            {"topic": m.topic_id, "terms": sorted({t.term for t in m.terms})} for m in st.matches
        ],
    }


async def _sources(settings: Settings, watchlist: Watchlist) -> int:
    engine = await open_database(settings)
    try:
        with storage.session_scope(storage.make_sessions(engine)) as session:
            rows = storage.source_statuses(session)
            counts = storage.outbox_counts(session)
            paused = storage.paused_channels(session)
            now = datetime.now(UTC)
            x_used = storage.month_usage(session, "x", now)
    finally:
        engine.dispose()
    x_specs = [s for s in watchlist.sources() if s.kind.value == "x"]
    planned: dict[str, tuple[str, str, str]] = {}
    if x_specs:
        _, plan = x_polling_plan(settings, x_specs)
        for a in plan.accounts:
            cost = f"{a.cost_per_month:.2f}" if a.cost_per_month is not None else "-"
            planned[a.key] = (format_interval(a.interval), f"{a.reads_per_month:.0f}", cost)
    header = (
        "SOURCE",
        "KIND",
        "LAST SUCCESS",
        "FAILURES",
        "NEXT POLL",
        "STATEMENTS",
        "INTERVAL",
        "READS/MONTH",
        "COST/MONTH",
        "LAST ERROR",
    )
    table = [header]
    for r in rows:
        interval, reads, cost = planned.get(r.key, ("", "", ""))
        key = redact_text(r.key)  # issue 11: credentials in a feed URL are never shown
        table.append(
            (
                key if len(key) <= 60 else key[:59] + "…",
                r.kind.value,
                _ago(r.last_success_at, now),
                str(r.failures),
                _ago(r.next_poll_at, now),
                str(r.statements),
                interval,
                reads,
                cost,
                redact_text(r.last_error or "")[:80],
            )
        )
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    for row in table:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    print(
        f"\noutbox: {counts['pending']} pending, {counts['sent']} sent, {counts['failed']} failed"
        + (
            f", {counts['shown']} shown on the console only (`watchpost alerts resend --shown` "
            "sends them)"
            if counts["shown"]
            else ""
        )
    )
    for channel_id, since, reason in paused:
        print(
            f"channel {channel_id} PAUSED {_ago(since, now)}: {redact_text(reason)[:120]} "
            f"(`watchpost channels resume {channel_id}` once fixed)"
        )
    if x_specs:
        _, plan = x_polling_plan(settings, x_specs)
        total = f", {plan.cost_per_month:.2f} a month" if plan.cost_per_month is not None else ""
        print(
            f"X ({settings.x_plan}, {settings.x_strategy}): this month {x_used[0]} requests, "
            f"{x_used[1]} posts read; projected {plan.reads_per_month:.0f} reads{total}"
        )
        for warning in plan.warnings:
            print(f"  budget: {warning}")
    configured = {s.key for s in watchlist.sources()}
    never = [k for k in configured if k not in {r.key for r in rows}]
    if never:
        print(f"{len(never)} configured source(s) not polled yet (first `run` or `once` adds them)")
    return 0


def _ago(when: datetime | None, now: datetime) -> str:
    if when is None:
        return "never"
    secs = int((when - now).total_seconds())
    word = "in " if secs > 0 else ""
    suffix = "" if secs > 0 else " ago"
    secs = abs(secs)
    if secs < 90:
        span = f"{secs}s"
    elif secs < 5400:
        span = f"{secs // 60}m"
    elif secs < 172800:
        span = f"{secs // 3600}h"
    else:
        span = f"{secs // 86400}d"
    return f"{word}{span}{suffix}"
