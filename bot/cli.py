"""The `watchpost` command: check, run, once, sources, match, demo. Parses arguments; no logic.

Exit codes: 0 done, 1 failed (for `match`: nothing matched), 2 bad configuration or usage.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime

import storage
from bot.app import open_app, run_once, run_worker, x_polling_plan
from bot.errors import ConfigError
from bot.log import setup_logging
from bot.matching import Hit, Role, TopicReport, compile_topics
from bot.model import StoredStatement, Watchlist
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
    sub.add_parser("run", parents=[common], help="run the worker until SIGINT/SIGTERM")
    once = sub.add_parser("once", parents=[common], help="poll every source once, store, and send")
    once.add_argument("--json", action="store_true", help="print each new statement as a JSON line")
    once.add_argument("--dry-run", action="store_true", help="store but do not send alerts")
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
    if args.command == "check":
        return _check(settings, watchlist, origin=_config_origin(args))
    if args.command == "match":
        return _match(watchlist, args.text, topics=args.topic, language=args.language)
    if args.command == "sources":
        return asyncio.run(_sources(settings, watchlist))
    if args.command == "once":
        return asyncio.run(_once(settings, watchlist, as_json=args.json, dry_run=args.dry_run))
    return asyncio.run(_run(settings, watchlist))


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
    async with open_app(settings, watchlist) as app:
        outcomes, report = await run_once(app, dispatch=not dry_run)
        if as_json:
            ids = [i for o in outcomes for i in o.statement_ids]
            with storage.session_scope(app.sessions) as session:
                for sid in ids:
                    print(
                        json.dumps(
                            statement_json(storage.load_statement(session, sid)), ensure_ascii=False
                        )
                    )
        errors = sum(1 for o in outcomes if o.error)
        print(
            f"once: {len(outcomes)} sources polled ({errors} failed), "
            f"{sum(o.new_statements for o in outcomes)} new statements, "
            f"{sum(o.duplicates for o in outcomes)} duplicates, "
            f"{report.sent} alerts sent, {report.retried} to retry, {report.failed} refused",
            file=sys.stderr,
        )
    return 0


def statement_json(st: StoredStatement) -> dict[str, object]:
    """One statement as `once --json` prints it."""
    return {
        "source": st.source_key,
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
    engine = storage.make_engine(settings.database_url)
    try:
        await asyncio.to_thread(storage.migrate, engine)
        with storage.session_scope(storage.make_sessions(engine)) as session:
            rows = storage.source_statuses(session)
            counts = storage.outbox_counts(session)
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
        table.append(
            (
                r.key if len(r.key) <= 60 else r.key[:59] + "…",
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
                (r.last_error or "")[:80],
            )
        )
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    for row in table:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    print(
        f"\noutbox: {counts['pending']} pending, {counts['sent']} sent, {counts['failed']} failed"
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
