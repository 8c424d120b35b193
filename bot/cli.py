"""The `watchpost` command: check, run, once, sources, channels, stats, match, alerts, demo. Parses
arguments; no logic.

Exit statuses (`bot.exitcodes.ExitStatus`): 0 done, 1 a bug (for `match`: nothing matched), 2 bad
configuration or usage (or a worker that must not start), 3 `once` did part of its work, 4 `once`
did none of it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import storage
from bot.app import open_app, open_database, run_once, run_worker, x_polling_plan
from bot.errors import ConfigError, StartupError
from bot.exitcodes import ExitStatus, once_status
from bot.log import setup_logging
from bot.matching import Hit, Role, TopicReport, compile_topics
from bot.model import AlertStatus, StoredStatement, Watchlist
from bot.redact import redact_text
from bot.settings import Settings, load_settings
from bot.watchlist import format_interval, load_watchlist

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="watchpost",
        description="Watch official statements in a conflict and alert Telegram channels.",
    )
    config_help = "watchlist YAML (default: $WATCHPOST_CONFIG or config/watchlist.yaml)"
    p.add_argument("--config", help=config_help)
    # Issue 7: `--config` is also accepted after the verb. SUPPRESS keeps a verb's parser from
    # overwriting a `--config` given before the verb with its own default.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", default=argparse.SUPPRESS, help=config_help)
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser(
        "check", parents=[common], help="validate the watchlist and settings, print a summary"
    )
    console_help = "print alerts on the console instead of sending them (recorded as shown)"
    run = sub.add_parser("run", parents=[common], help="run the worker until SIGINT/SIGTERM")
    run.add_argument("--console", action="store_true", help=console_help)
    once = sub.add_parser("once", parents=[common], help="poll every source once, store, and send")
    once.add_argument("--json", action="store_true", help="print each new statement as a JSON line")
    once.add_argument(
        "--dry-run",
        action="store_true",
        help="poll and print, but write nothing to the database and send nothing",
    )
    once.add_argument("--console", action="store_true", help=console_help)
    sub.add_parser("sources", parents=[common], help="a table of sources and their polling state")
    match = sub.add_parser(
        "match",
        parents=[common],
        help="show how the topics match a text: hits, vetoes, unmet groups, spellings",
    )
    match.add_argument("text", help="the statement's text")
    match.add_argument("--topic", action="append", help="only this topic (may be repeated)")
    match.add_argument(
        "--language", help="the statement's language: hits of other languages' terms are marked"
    )
    alerts = sub.add_parser("alerts", help="act on the outbox")
    alerts_sub = alerts.add_subparsers(dest="alerts_command", required=True)
    resend = alerts_sub.add_parser(
        "resend",
        parents=[common],
        help="queue alerts that were only shown on the console to be sent",
    )
    resend.add_argument(
        "--shown", action="store_true", required=True, help="the alerts shown on the console"
    )
    resend.add_argument("--channel", help="only this channel's (its id in the watchlist)")
    channels = sub.add_parser(
        "channels",
        parents=[common],
        help="a table of channels: paused or not, alerts by state, last sent (or act on one)",
    )
    channels_sub = channels.add_subparsers(dest="channels_command")
    resume = channels_sub.add_parser(
        "resume", parents=[common], help="deliver a paused channel's alerts"
    )
    resume.add_argument("channel", help="the channel's id in the watchlist")
    resume.add_argument(
        "--failed", action="store_true", help="also send the alerts it refused for good before"
    )
    sub.add_parser(
        "stats",
        parents=[common],
        help="statements, alerts, duplicates, edits and deletions over the last 24 h and 7 days",
    )
    demo = sub.add_parser("demo", help="replay a bundled scenario through local fake servers")
    demo.add_argument("--speed", type=float, default=1.0, help="replay faster (2 = twice as fast)")
    return p


def _config_origin(args: argparse.Namespace) -> str:
    """Which input named the watchlist file: what `check` reports beside the file it read."""
    if args.config:
        return "--config"
    return "WATCHPOST_CONFIG" if os.environ.get("WATCHPOST_CONFIG") else "default"


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
            return _check(settings, watchlist, origin=_config_origin(args))
        if args.command == "match":
            return _match(watchlist, args.text, topics=args.topic, language=args.language)
        if args.command == "sources":
            return asyncio.run(_sources(settings, watchlist))
        if args.command == "channels" and args.channels_command is None:
            return asyncio.run(_channels(settings))
        if args.command == "channels":
            return asyncio.run(_resume_channel(settings, args.channel, failed=args.failed))
        if args.command == "stats":
            return asyncio.run(_stats(settings))
        if args.command == "alerts":
            return asyncio.run(_resend_shown(settings, channel=args.channel))
        if args.command == "once":
            return asyncio.run(_once(settings, watchlist, as_json=args.json, dry_run=args.dry_run))
        return asyncio.run(_run(settings, watchlist))
    except StartupError as exc:
        print(f"watchpost: {exc}", file=sys.stderr)
        return ExitStatus.USAGE


def _check(settings: Settings, watchlist: Watchlist, *, origin: str) -> int:
    kinds = Counter(s.kind.value for s in watchlist.sources())
    # Issue 7: name the file actually read (absolute, and which input named it), so that an
    # operator never validates one file while believing it is another.
    print(f"watchlist: {os.path.abspath(watchlist.path)} (from {origin}): ok")
    print(f"  speakers: {len(watchlist.speakers)}")
    print("  sources:  " + ", ".join(f"{n} {k}" for k, n in sorted(kinds.items())))
    print(
        f"  topics:   {len(watchlist.topics)} ({sum(len(t.terms) for t in watchlist.topics)} terms)"
    )
    print(f"  channels: {len(watchlist.channels)}")
    print("settings:")
    for name, value in settings.describe().items():
        if name == "WATCHPOST_CONFIG" and origin == "--config":
            value += "  (not read: --config given)"
        print(f"  {name} = {value}")
    return 0


def _match(
    watchlist: Watchlist, text: str, *, topics: list[str] | None, language: str | None
) -> int:
    """`watchpost match`: what the worker's matcher makes of `text`, topic by topic.

    The worker matches a statement's title and text together; here the text stands alone.
    """
    known = [t.id for t in watchlist.topics]
    unknown = [t for t in topics or () if t not in known]
    if unknown:
        for t in unknown:
            print(f"unknown topic '{t}' (topics: {', '.join(known)})", file=sys.stderr)
        return 2
    chosen = [t for t in watchlist.topics if topics is None or t.id in topics]
    # The whole watchlist is compiled, as the worker compiles it; only the report is filtered.
    reports = [
        r
        for r in compile_topics(watchlist.topics).explain("", text)
        if r.topic_id in {t.id for t in chosen}
    ]
    for report in reports:
        _print_report(report, language)
    matched = sum(r.matched for r in reports)
    print(f"{matched} of {len(reports)} topics match")
    return 0 if matched else 1


def _print_report(report: TopicReport, language: str | None) -> None:
    print(f"{report.topic_id} ({report.name}): {'match' if report.matched else 'no match'}")
    for hit in report.hits:
        print(_hit_line(hit, language))
    for hit in report.vetoes:
        print(_hit_line(hit, language) + " (vetoes the topic)")
    if report.hits or report.vetoes:
        # Unmet groups matter once something was found; on a text about nothing they are noise.
        for k, group in report.unmet:
            print(f"  require group {k + 1} unmet: {', '.join(group)}")
    for g in report.generated:
        spellings = ", ".join(g.spellings) or "(none)"
        print(f"  transliterate  {g.term}{_lang(g.lang)} -> {spellings}")


def _lang(lang: str) -> str:
    return f" [{lang}]" if lang else ""


def _hit_line(hit: Hit, language: str | None) -> str:
    group = f" group {hit.group + 1}" if hit.role is Role.REQUIRE and hit.group is not None else ""
    line = (
        f"  {hit.role.value:<8} {hit.term}{_lang(hit.lang)}{group}: "
        f'"{hit.found}" folded "{hit.folded}"'
    )
    if hit.generated:
        line += f', transliteration "{hit.spelling}"'
    # The worker searches every language's terms in every statement (feeds mislabel languages
    # and statements quote each other); the mark only helps an operator read the report.
    if language and hit.lang and hit.lang.split("-")[0] != language.split("-")[0]:
        line += f" (a {hit.lang} term; the text is {language})"
    return line


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
        "published_estimated": st.published_estimated,
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
        "LAST POST",
        "CURSOR",
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
                f"gone {_ago(r.gone_at, now)}" if r.gone_at else _ago(r.next_poll_at, now),
                str(r.statements),
                _ago(r.last_published_at, now) if r.statements else "",
                (r.cursor or "")[:40] if r.kind.value == "telegram" else "",
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


def _print_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """Columns aligned on their widest cell, two spaces apart."""
    table = [tuple(header), *(tuple(r) for r in rows)]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    for row in table:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())


async def _channels(settings: Settings) -> int:
    """`watchpost channels`: each channel's chat, pause and outbox."""
    engine = await open_database(settings)
    try:
        with storage.session_scope(storage.make_sessions(engine)) as session:
            channels = storage.channel_summaries(session)
    finally:
        engine.dispose()
    now = datetime.now(UTC)
    states = (AlertStatus.PENDING, AlertStatus.SENT, AlertStatus.FAILED, AlertStatus.SHOWN)
    rows = [
        (
            c.id,
            c.chat,
            f"since {_ago(c.paused_at, now)}" if c.paused_at else "no",
            *(str(c.count(st)) for st in states),
            _ago(c.last_sent_at, now),
            redact_text(c.paused_reason or "")[:80] if c.paused_at else "",
        )
        for c in channels
    ]
    _print_table(
        ("CHANNEL", "CHAT", "PAUSED", *(st.value.upper() for st in states), "LAST SENT", "WHY"),
        rows,
    )
    if any(c.paused_at for c in channels):
        print("\na paused channel's alerts wait: `watchpost channels resume ID` once it is fixed")
    if not channels:
        print("no channels yet (the first `run` or `once` adds the watchlist's)")
    return ExitStatus.OK


#: the windows `watchpost stats` counts over
STATS_WINDOWS = (("24 H", timedelta(hours=24)), ("7 D", timedelta(days=7)))


async def _stats(settings: Settings) -> int:
    """`watchpost stats`: what the workers found and queued over the last day and week."""
    now = datetime.now(UTC)
    engine = await open_database(settings)
    try:
        with storage.session_scope(storage.make_sessions(engine)) as session:
            windows = [storage.activity_since(session, now - span) for _, span in STATS_WINDOWS]
    finally:
        engine.dispose()
    names = [name for name, _ in STATS_WINDOWS]
    per_speaker: dict[tuple[str, str], list[int]] = {}
    per_channel: dict[tuple[str, str], list[int]] = {}
    for i, w in enumerate(windows):
        for speaker, kind, n in w.statements:
            per_speaker.setdefault((speaker, kind), [0] * len(windows))[i] = n
        for channel, status, n in w.alerts:
            per_channel.setdefault((channel, status), [0] * len(windows))[i] = n
    print("statements stored")
    _print_table(
        ("SPEAKER", "KIND", *names),
        [(sp, kind, *map(str, ns)) for (sp, kind), ns in sorted(per_speaker.items())],
    )
    print("\nalerts queued")
    _print_table(
        ("CHANNEL", "STATE", *names),
        [(ch, st, *map(str, ns)) for (ch, st), ns in sorted(per_channel.items())],
    )
    print()
    _print_table(
        ("FOUND", *names),
        [
            ("duplicates suppressed", *(str(w.duplicates) for w in windows)),
            ("edits", *(str(w.edits) for w in windows)),
            ("deletions", *(str(w.deletions) for w in windows)),
        ],
    )
    return ExitStatus.OK


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
