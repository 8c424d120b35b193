"""10,000 feed sources in one `watchpost run`: polled within their interval, memory, event loop.

Run from the repository root (by hand; never part of the tests)::

    python benchmarks/many_sources.py [--feeds 10000] [--items 3] [--duration 120]

What it does:

1. Starts the feed host (`benchmarks/_feedhost.py`) with ``--feeds`` RSS feeds of ``--items``
   items and 20 ms of added latency.
2. Primes a SQLite database with ``watchpost once --console`` (untimed, its time is printed):
   a worker that has run before, not one storing 30,000 statements at start.
3. Starts ``watchpost run --console`` with the user's default settings (60 s interval, poll
   tick, concurrency, batch), except ``WATCHPOST_METRICS_PORT`` so that the event loop's lag
   can be read from ``/metrics``. Every ``--bump-every`` seconds a fraction of the feeds gets a
   new item, so the worker stores and routes statements while it polls.
4. After ``--warmup`` seconds it marks the host and measures for ``--duration`` seconds:
   per feed, the longest time without a poll (from the mark, between polls, to the end);
   the worker's peak resident memory (``VmHWM`` in /proc) and its CPU; the longest the event
   loop was held (``watchpost_event_loop_lag_max_seconds``, since the worker started).
5. Checks that every bumped item was stored, then stops the worker with SIGTERM.

Goals (issue 9): every feed polled within its 60 s interval, peak memory <= 250 MB, the event
loop never held for more than 100 ms.
"""

from __future__ import annotations

import argparse
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from poll_cycle import PY, REPO, _control, _env_for, _feed_host, _run, _watchlist  # noqa: E402


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _proc_status(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM of `pid`, in kB."""
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(value.split()[0])
    return out


def _proc_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _metric(port: int, name: str) -> float | None:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30) as resp:
        for line in resp.read().decode().splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
    return None


def _drain(stream: object, lines: list[str]) -> None:
    for line in stream:  # type: ignore[attr-defined]
        lines.append(line)


def main() -> None:
    """Run the worker against the host, measure, print the goals."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--feeds", type=int, default=10_000)
    p.add_argument("--items", type=int, default=3)
    p.add_argument("--latency", type=float, default=0.02)
    p.add_argument("--warmup", type=float, default=90.0, help="seconds before measuring")
    p.add_argument("--duration", type=float, default=150.0, help="seconds measured")
    p.add_argument("--bump-every", type=float, default=10.0)
    p.add_argument("--bump", type=float, default=0.005, help="fraction of feeds bumped each time")
    p.add_argument("--log", type=Path, default=None, help="write the worker's log here")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a WATCHPOST_ setting for the worker (printed: the figures are then not the defaults)",
    )
    args = p.parse_args()
    with (
        tempfile.TemporaryDirectory(prefix="many-sources-") as tmp_name,
        _feed_host(args.feeds, args.items, args.latency) as (url, host_pid),
    ):
        tmp = Path(tmp_name)
        (tmp / "watchlist.yaml").write_text(_watchlist(url, args.feeds))
        env = _env_for(tmp, None)
        wall, cpu, _, _, err = _run([PY, "-m", "bot", "once", "--console"], env, host_pid)
        print(
            f"primed in {wall:.0f}s ({cpu:.0f}s CPU): {err.strip().splitlines()[-1]}",
            file=sys.stderr,
        )
        port = _free_port()
        env = {**env, "WATCHPOST_METRICS_PORT": str(port), "WATCHPOST_LOG_LEVEL": "WARNING"}
        for item in args.set:
            name, _, value = item.partition("=")
            env[name] = value
            print(f"non-default setting: {name}={value}", file=sys.stderr)
        worker = subprocess.Popen(
            [PY, "-m", "bot", "run", "--console"],
            env=env,
            cwd=REPO,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        log: list[str] = []
        threading.Thread(target=_drain, args=(worker.stderr, log), daemon=True).start()
        expected: set[tuple[str, str]] = set()
        round_no = 0
        start = time.monotonic()
        marked_at: float | None = None
        cpu_at_mark = 0.0
        rss: list[int] = []
        try:
            while True:
                now = time.monotonic() - start
                if worker.poll() is not None:
                    raise SystemExit(f"worker exited {worker.returncode}:\n{''.join(log[-30:])}")
                if marked_at is None and now >= args.warmup:
                    _control(url, "/_control/mark", post=True)
                    marked_at, cpu_at_mark = now, _proc_cpu(worker.pid)
                if marked_at is not None and now >= marked_at + args.duration:
                    break
                round_no += 1
                bumped = _control(
                    url, f"/_control/bump?round={round_no}&fraction={args.bump}", post=True
                )
                expected |= {(b["path"], b["id"]) for b in bumped}
                rss.append(_proc_status(worker.pid)["VmRSS"])
                time.sleep(args.bump_every)
            gaps = _control(url, "/_control/gaps?ns=w")
            cpu_used = _proc_cpu(worker.pid) - cpu_at_mark
            status = _proc_status(worker.pid)
            lag = _metric(port, "watchpost_event_loop_lag_max_seconds")
            # the last bump gets one interval to be polled and stored
            time.sleep(65)
            stored = _stored(tmp / "watchpost.sqlite", {i for _, i in expected})
        finally:
            worker.send_signal(signal.SIGTERM)
            worker.wait(timeout=60)
        if args.log is not None:
            args.log.write_text("".join(log))
        warnings = [line for line in log if " WARNING " in line or " ERROR " in line]
        print(
            f"\n{args.feeds} feeds, default settings, {args.duration:.0f}s measured after "
            f"{args.warmup:.0f}s; {len(expected)} new items published during the run"
        )
        print(f"polls in the window: {gaps['polls']} ({gaps['polls'] / gaps['span']:.0f}/s)")
        print(
            f"longest time without a poll, per feed: median {gaps['p50']:.1f}s, "
            f"p99 {gaps['p99']:.1f}s, max {gaps['max']:.1f}s; feeds over 60 s: {gaps['over_60']}"
        )
        print(
            f"worker CPU in the window: {cpu_used:.1f}s ({cpu_used / gaps['span']:.0%} of a core)"
        )
        print(
            f"worker memory: peak {status['VmHWM'] / 1024:.0f} MB, "
            f"now {status['VmRSS'] / 1024:.0f} MB"
            f" (sampled during the run: max {max(rss) / 1024:.0f} MB)"
        )
        print(f"event loop held at most: {lag * 1000 if lag is not None else float('nan'):.0f} ms")
        print(f"new items stored: {stored} of {len(expected)}")
        print(f"warnings and errors logged: {len(warnings)}")
        for line in warnings[:10]:
            print("  " + line.rstrip())
        goals = [
            ("every feed polled within 60 s", gaps["over_60"] == 0),
            ("peak memory <= 250 MB", status["VmHWM"] <= 250 * 1024),
            ("event loop never held > 100 ms", lag is not None and lag <= 0.1),
            ("every new item stored", stored == len(expected)),
        ]
        for name, ok in goals:
            print(f"goal {name}: {'met' if ok else 'NOT met'}")


def _stored(db: Path, ids: set[str]) -> int:
    with sqlite3.connect(db) as conn:
        have = {row[0] for row in conn.execute("SELECT external_id FROM statements")}
    return len(ids & have)


if __name__ == "__main__":
    main()
