"""One poll cycle of 1,000 feeds: Watchpost's `once` against lemon24's `reader`, whole processes.

Run from the repository root (by hand; never part of the tests)::

    python benchmarks/poll_cycle.py [--rounds 3] [--feeds 1000] [--latency 0.02] [--profile]

What it does:

1. Starts the feed host (`benchmarks/_feedhost.py`) in its own process: ``--feeds`` RSS feeds
   of ``--items`` items (about 28 KB each, 6 KB gzipped), every answer delayed by ``--latency``.
   Each feed exists twice, identical: ``/w/...`` polled by Watchpost, ``/r/...`` by reader.
2. Primes both, untimed: a watchlist of every ``/w/`` feed (``match: all``) and a SQLite
   database, polled once by ``python -m bot once --console`` (every source stored as seen, ETag
   kept); a reader database with every ``/r/`` feed added and updated once. Then one more
   untimed cycle each, every feed answering 304, to warm the file cache.
3. Each round bumps the same ``--bump`` fraction of feeds in both namespaces (one new item, new
   ETag), then times each client as a whole process: Watchpost ``python -m bot once --console
   --json`` (stored and routed to no channel; the user's default settings unless
   ``--concurrency`` is given), reader ``update_feeds(workers=16, scheduled=False)``. Both
   see the same content and their own caching state; the order alternates from round to round
   so that neither always runs second.
4. Wall time is `time.perf_counter` around the child; CPU is the child's user+system time from
   ``getrusage(RUSAGE_CHILDREN)``; the host's CPU in the same span is read from /proc.
   Both clients must report exactly the bumped items as new, or the run fails.

``--profile`` then times one more Watchpost cycle by phase (`benchmarks/_wp_phases.py`:
imports, settings and watchlist, migrations and sync, the cycle and within it parsing, matching,
storing and poll bookkeeping; the rest of the cycle is the HTTP client and the event loop), and
runs another under cProfile for the functions that cost most.
"""

from __future__ import annotations

import argparse
import json
import os
import pstats
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
HERE = Path(__file__).resolve().parent
PY = sys.executable


@dataclass
class Run:
    """One timed client process."""

    wall: float
    cpu: float
    host_cpu: float
    new: set[tuple[str, str]]
    statuses: dict[str, int]
    stderr: str = ""


@dataclass
class Bench:
    """The host, the temp dir and how each client is started."""

    url: str
    host_pid: int
    tmp: Path
    wp_env: dict[str, str]
    reader_db: Path
    workers: int
    results: dict[str, list[Run]] = field(default_factory=lambda: {"watchpost": [], "reader": []})


def _host_cpu(pid: int) -> float:
    """User+system seconds the host process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def _control(url: str, path: str, *, post: bool = False) -> Any:
    req = urllib.request.Request(url + path, method="POST" if post else "GET")
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.loads(resp.read())


@contextmanager
def _feed_host(feeds: int, items: int, latency: float, *extra: str) -> Iterator[tuple[str, int]]:
    cmd = [PY, str(HERE / "_feedhost.py"), "--feeds", str(feeds), "--items", str(items), *extra]
    proc = subprocess.Popen(
        [*cmd, "--latency", str(latency)], stdout=subprocess.PIPE, text=True, cwd=REPO
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        if not url.startswith("http://127.0.0.1:"):
            raise SystemExit(f"feed host did not start: {url!r}")
        yield url, proc.pid
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _watchlist(url: str, feeds: int, per_speaker: int = 10) -> str:
    lines = ["speakers:"]
    for s in range(0, feeds, per_speaker):
        lines += [
            f"  - id: ministry-{s // per_speaker:03d}",
            f"    name: Ministry {s // per_speaker:03d}",
            "    role: Foreign ministry",
            f"    side: side-{s % 2}",
            "    timezone: UTC",
            "    sources:",
        ]
        for f in range(s, min(s + per_speaker, feeds)):
            lines += [f"      - feed: {url}/w/feed-{f:04d}.xml", "        match: all"]
    lines += [
        "topics:",
        "  - id: ceasefire",
        "    name: Ceasefire",
        "    terms:",
        "      en: [ceasefire, truce]",
        "  - id: unrouted",
        "    name: Nothing the feeds say",
        "    terms:",
        "      en: [xqzjvw]",
        "channels:",
        "  - id: main",
        '    chat: "@bench"',
        # Every statement is stored (match: all) but none is routed: the cycle measures polling
        # and storing, as reader's does; delivery has its own benchmark (benchmarks/burst.py).
        "    topics: [unrouted]",
    ]
    return "\n".join(lines) + "\n"


def _run(
    cmd: Sequence[str], env: dict[str, str], host_pid: int
) -> tuple[float, float, float, str, str]:
    """Run `cmd` to completion: wall s, CPU s (user+system), host CPU s, stdout, stderr."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    host_before = _host_cpu(host_pid)
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=env, cwd=REPO, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    host = _host_cpu(host_pid) - host_before
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, host, proc.stdout, proc.stderr


def _path_of(url: str) -> str:
    return "/" + url.rsplit("/", 1)[1]


def _watchpost_cmd(profile_to: Path | None = None) -> list[str]:
    prefix = [PY] if profile_to is None else [PY, "-m", "cProfile", "-o", str(profile_to)]
    # Stored, and delivered to the console (recorded as shown): what `once` does for a user
    # without a token who asks for console mode. A dry run would store nothing, and every
    # round would find every item new again.
    return [*prefix, "-m", "bot", "once", "--console", "--json"]


def run_watchpost(b: Bench) -> Run:
    """Time one `once` cycle of Watchpost."""
    _control(b.url, "/_control/stats?ns=w")
    wall, cpu, host, out, err = _run(_watchpost_cmd(), b.wp_env, b.host_pid)
    new = set()
    for line in out.splitlines():
        if not line.startswith('{"source"'):
            continue  # an alert printed by the console sender
        st = json.loads(line)
        new.add((_path_of(st["source"]), st["external_id"]))
    statuses = _control(b.url, "/_control/stats?ns=w")
    return Run(wall, cpu, host, new, statuses, err)


def run_reader(b: Bench) -> Run:
    """Time one `update_feeds` cycle of reader."""
    _control(b.url, "/_control/stats?ns=r")
    cmd = [
        PY,
        str(HERE / "_reader_cycle.py"),
        "cycle",
        str(b.reader_db),
        "--workers",
        str(b.workers),
    ]
    wall, cpu, host, out, err = _run(cmd, dict(os.environ), b.host_pid)
    new = set()
    for line in out.splitlines():
        row = json.loads(line)
        new.add((_path_of(row["feed"]), row["id"]))
    statuses = _control(b.url, "/_control/stats?ns=r")
    return Run(wall, cpu, host, new, statuses, err)


def prime(b: Bench, feeds: int) -> None:
    """Bring both clients to a primed state: every feed stored once, ETags kept.

    Then cycles with nothing new until both see every feed answer 304 (a source that failed
    while priming is primed by the next cycle).
    """
    t = time.perf_counter()
    wall, _, _, _, err = _run([PY, "-m", "bot", "once", "--console"], b.wp_env, b.host_pid)
    print(f"primed watchpost in {wall:.1f}s: {err.strip().splitlines()[-1]}", file=sys.stderr)
    for line in err.splitlines():
        if " ERROR " in line or " CRITICAL " in line:
            print(f"  {line}", file=sys.stderr)
    urls = b.tmp / "reader-urls.txt"
    urls.write_text("".join(f"{b.url}/r/feed-{f:04d}.xml\n" for f in range(feeds)))
    cmd = [PY, str(HERE / "_reader_cycle.py"), "prime", str(b.reader_db), str(urls)]
    wall, *_ = _run([*cmd, "--workers", str(b.workers)], dict(os.environ), b.host_pid)
    print(f"primed reader in {wall:.1f}s", file=sys.stderr)
    for name, run_fn in (("watchpost", run_watchpost), ("reader", run_reader)):
        for _ in range(3):
            run = run_fn(b)
            if not run.new and set(run.statuses) == {"304"}:
                break
            print(f"{name} not settled yet: {run.statuses}, {len(run.new)} new", file=sys.stderr)
        else:
            raise SystemExit(f"{name} never saw every feed answer 304")
    print(f"primed and warmed up in {time.perf_counter() - t:.1f}s", file=sys.stderr)


def _fmt_statuses(s: dict[str, int]) -> str:
    return " ".join(f"{k}:{v}" for k, v in sorted(s.items()))


def _table(rows: list[tuple[str, ...]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) for r in rows)


def report(b: Bench) -> bool:
    """Print each round and the medians; True when the 3x wall-time goal is met."""
    w, r = b.results["watchpost"], b.results["reader"]
    rows: list[tuple[str, ...]] = [
        ("round", "client", "wall s", "CPU s", "host CPU s", "new", "statuses")
    ]
    for i, (rw, rr) in enumerate(zip(w, r, strict=True), 1):
        for name, run in (("watchpost", rw), ("reader", rr)):
            rows.append(
                (
                    str(i),
                    name,
                    f"{run.wall:.2f}",
                    f"{run.cpu:.2f}",
                    f"{run.host_cpu:.2f}",
                    str(len(run.new)),
                    _fmt_statuses(run.statuses),
                )
            )
    print(_table(rows))
    med = {
        name: (statistics.median(x.wall for x in runs), statistics.median(x.cpu for x in runs))
        for name, runs in b.results.items()
    }
    wall_ratio = med["reader"][0] / med["watchpost"][0]
    cpu_ratio = med["reader"][1] / med["watchpost"][1]
    print()
    print(
        _table(
            [
                ("median", "wall s", "CPU s"),
                ("watchpost", f"{med['watchpost'][0]:.2f}", f"{med['watchpost'][1]:.2f}"),
                (
                    f"reader ({b.workers} workers)",
                    f"{med['reader'][0]:.2f}",
                    f"{med['reader'][1]:.2f}",
                ),
                ("reader / watchpost", f"{wall_ratio:.2f}x", f"{cpu_ratio:.2f}x"),
            ]
        )
    )
    met = wall_ratio >= 3.0 and cpu_ratio > 1.0
    print(
        f"\ngoal (>= 3x faster wall, less CPU): {'met' if met else 'NOT met'} "
        f"(wall {wall_ratio:.2f}x, CPU {cpu_ratio:.2f}x)"
    )
    return met


def profile(b: Bench, round_no: int, fraction: float, keep: Path | None = None) -> None:
    """Where Watchpost's cycle spends its time: phase timings, then a cProfile run.

    Each run gets its own bump of the same size, so both see a cycle like the timed ones.
    """
    _control(b.url, f"/_control/bump?round={round_no}&fraction={fraction}", post=True)
    wall, cpu, _, out, _ = _run([PY, str(HERE / "_wp_phases.py")], b.wp_env, b.host_pid)
    print(f"\nWatchpost's cycle by phase (whole process {wall:.2f}s wall, {cpu:.2f}s CPU):")
    print(out.rstrip())
    _control(b.url, f"/_control/bump?round={round_no + 1}&fraction={fraction}", post=True)
    prof = b.tmp / "watchpost.prof"
    wall, cpu, *_ = _run(_watchpost_cmd(prof), b.wp_env, b.host_pid)
    print(f"\nthe same cycle under cProfile ({wall:.2f}s wall, {cpu:.2f}s CPU, inflated by the")
    print("profiler); top 25 functions by own time:")
    pstats.Stats(str(prof)).sort_stats("tottime").print_stats(25)
    if keep is not None:
        shutil.copyfile(prof, keep)
        print(f"profile kept in {keep}")


def _compile_checkout() -> None:
    """The checkout's modules compiled, as `pip install` compiles an installed package (into
    the checkout's ignored ``__pycache__`` directories).

    Watchpost runs from this checkout (an editable install), and with PYTHONDONTWRITEBYTECODE
    set, as on the machines these figures come from, it compiled all of its modules at every
    start: 0.3 s of CPU that neither a user's installed copy nor reader pays.
    """
    subprocess.run(
        [PY, "-m", "compileall", "-q", str(REPO / "bot"), str(REPO / "storage")],
        check=True,
        stdout=subprocess.DEVNULL,
    )


def _env_for(tmp: Path, concurrency: int | None) -> dict[str, str]:
    """Watchpost's environment: the user's defaults, a database and watchlist in `tmp`; and
    its modules compiled, as an installed copy's are (`_compile_checkout`)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WATCHPOST_", "TELEGRAM_"))}
    env.update(
        WATCHPOST_CONFIG=str(tmp / "watchlist.yaml"),
        WATCHPOST_DATABASE_URL=f"sqlite:///{tmp / 'watchpost.sqlite'}",
        WATCHPOST_LOG_LEVEL="WARNING",
    )
    _compile_checkout()
    if concurrency is not None:
        env["WATCHPOST_POLL_CONCURRENCY"] = str(concurrency)
    return env


def first_cycles(args: argparse.Namespace) -> list[tuple[str, float, float, float, float]]:
    """The first cycle on empty databases, `--first-items` items a feed: every item is new.

    Twice: distinct texts, then texts of one template whose numbers differ (daily reports, the
    near-duplicate index's hardest case). Whole processes, as in the rounds: Watchpost
    ``once --console`` against reader adding the feeds and ``update_feeds(workers=16)``.
    """
    out = []
    for variant in ("distinct", "templated"):
        extra = ("--templated",) if variant == "templated" else ()
        with (
            tempfile.TemporaryDirectory(prefix="first-cycle-") as tmp_name,
            _feed_host(args.feeds, args.first_items, args.latency, *extra) as (url, host_pid),
        ):
            tmp = Path(tmp_name)
            (tmp / "watchlist.yaml").write_text(_watchlist(url, args.feeds))
            env = _env_for(tmp, args.concurrency)
            urls = tmp / "reader-urls.txt"
            urls.write_text("".join(f"{url}/r/feed-{f:04d}.xml\n" for f in range(args.feeds)))
            reader_cmd = [PY, str(HERE / "_reader_cycle.py"), "prime", str(tmp / "r.sqlite")]
            reader_cmd += [str(urls), "--workers", str(args.workers)]
            wp_cmd = [PY, "-m", "bot", "once", "--console"]
            # alternate which runs first from variant to variant (the file cache, the host)
            runs = {}
            order = [("watchpost", wp_cmd, env), ("reader", reader_cmd, dict(os.environ))]
            for name, cmd, cmd_env in order if variant == "distinct" else order[::-1]:
                wall, cpu, _, _, err = _run(cmd, cmd_env, host_pid)
                runs[name] = (wall, cpu)
                if name == "watchpost":
                    summary = err.strip().splitlines()[-1]
                    expected = f"{args.feeds * args.first_items} new statements"
                    if expected not in summary:
                        raise SystemExit(f"first cycle ({variant}): {summary}")
            print(f"first cycle, {variant} texts: done", file=sys.stderr)
            out.append((variant, *runs["watchpost"], *runs["reader"]))
    return out


def report_first(
    rows: list[tuple[str, float, float, float, float]], feeds: int, items: int
) -> None:
    """Print the first cycles beside reader's and judge both goals."""
    print(f"\nfirst cycle, {feeds} feeds x {items} items, every item new (empty databases):")
    table: list[tuple[str, ...]] = [
        ("texts", "watchpost wall s", "CPU s", "reader wall s", "CPU s", "reader / watchpost")
    ]
    for variant, ww, wc, rw, rc in rows:
        table.append(
            (variant, f"{ww:.2f}", f"{wc:.2f}", f"{rw:.2f}", f"{rc:.2f}", f"{rw / ww:.2f}x")
        )
    print(_table(table))
    by = {r[0]: r for r in rows}
    print(
        "goal (no slower than reader): "
        + ("met" if by["distinct"][1] <= by["distinct"][3] else "NOT met")
        + "; goal (templated no slower than distinct, in CPU): "
        + ("met" if by["templated"][2] <= by["distinct"][2] * 1.05 else "NOT met")
        + f" ({by['templated'][2] / by['distinct'][2]:.2f}x the distinct CPU time, "
        + f"{by['templated'][1] / by['distinct'][1]:.2f}x its wall time; 5 % is noise)"
    )


def main() -> None:
    """Parse the arguments, run the rounds, print the table."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--feeds", type=int, default=1000)
    p.add_argument("--items", type=int, default=20)
    p.add_argument("--latency", type=float, default=0.02)
    p.add_argument("--bump", type=float, default=0.1, help="fraction of feeds with a new item")
    p.add_argument(
        "--concurrency", type=int, default=None, help="WATCHPOST_POLL_CONCURRENCY (default: unset)"
    )
    p.add_argument("--workers", type=int, default=16, help="reader's update_feeds(workers=)")
    p.add_argument("--profile", action="store_true", help="then profile one Watchpost cycle")
    p.add_argument("--keep-profile", type=Path, help="with --profile: copy the cProfile stats here")
    p.add_argument("--first-items", type=int, default=10, help="items a feed in the first cycle")
    p.add_argument(
        "--only",
        choices=("cycle", "first"),
        default=None,
        help="run one part: the poll-cycle rounds, or the first cycles (default: both)",
    )
    args = p.parse_args()
    if args.only != "first":
        cycle_rounds(args)
    if args.only != "cycle":
        report_first(first_cycles(args), args.feeds, args.first_items)


def cycle_rounds(args: argparse.Namespace) -> None:
    """The poll cycle: prime both, then the timed rounds."""
    with (
        tempfile.TemporaryDirectory(prefix="poll-cycle-") as tmp_name,
        _feed_host(args.feeds, args.items, args.latency) as (url, host_pid),
    ):
        tmp = Path(tmp_name)
        (tmp / "watchlist.yaml").write_text(_watchlist(url, args.feeds))
        # The settings a user gets, unless asked otherwise.
        env = _env_for(tmp, args.concurrency)
        b = Bench(url, host_pid, tmp, env, tmp / "reader.sqlite", args.workers)
        print(
            f"{args.feeds} feeds x {args.items} items, {args.latency * 1000:g} ms latency, "
            f"{args.bump:.0%} bumped per round; "
            f"watchpost concurrency {args.concurrency or 'default'}, "
            f"reader workers {args.workers}; host {url} (pid {host_pid})",
            file=sys.stderr,
        )
        prime(b, args.feeds)
        ok = True
        for n in range(1, args.rounds + 1):
            bumped = _control(url, f"/_control/bump?round={n}&fraction={args.bump}", post=True)
            expected = {(row["path"], row["id"]) for row in bumped}
            order = (run_watchpost, run_reader) if n % 2 else (run_reader, run_watchpost)
            for fn in order:
                run = fn(b)
                name = "watchpost" if fn is run_watchpost else "reader"
                b.results[name].append(run)
                if run.new != expected:
                    ok = False
                    print(
                        f"round {n}: {name} found {len(run.new)} new entries, expected "
                        f"{len(expected)}; missing {sorted(expected - run.new)[:5]}, "
                        f"extra {sorted(run.new - expected)[:5]}",
                        file=sys.stderr,
                    )
            print(f"round {n} done", file=sys.stderr)
        print()
        report(b)
        print(f"same new entries in every round: {'yes' if ok else 'NO'}")
        if args.profile:
            profile(b, args.rounds + 1, args.bump, args.keep_profile)
    if not ok:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
