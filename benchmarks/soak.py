"""A kill -9 soak: real workers killed at random while statements are published and delivered.

Run from the repository root (by hand; never part of the tests; about 5 minutes a backend)::

    PYTHONPATH=. python benchmarks/soak.py [--backend both|sqlite|postgres] [--statements 300]
        [--seconds 210] [--feeds 10] [--kills 20] [--in-send 0.5] [--seed 1] [--interval 10]
        [--keep]

Issue 11: "A kill -9 soak (20 random kills over 300 statements; SQLite, and two workers on
PostgreSQL) loses nothing, repeats at most one message per kill, and every statement arrives
within 90 s of its publication plus the restart."

Everything is real and runs on the wall clock: `python -m bot run --config WATCHLIST` worker
processes (one on a SQLite file; two at once, `WATCHPOST_WORKER_ID` soak-1 and soak-2, on a
throwaway PostgreSQL server started from the installed binaries), a `FeedServer` with
`--feeds` RSS feeds and the strict `FakeTelegram` (in this process, on 127.0.0.1). The fake
paces each chat like Telegram (a post sooner than 3 s after the previous one to the same chat
is answered 429 with `retry_after`). Each feed is one speaker whose statements match one topic
routed to its own channel (`--feeds` channels): about 9 statements a minute per chat with the
defaults, below Telegram's 20. Burst digests stay on (the default); a statement in a digest
counts as delivered by it.

After a warm-up (each feed's first poll stores its seed item silently, as in production),
`--statements` statements, each text unique, are published at seeded random times over
`--seconds`, and `--kills` SIGKILLs hit a random running worker at seeded random times over
the same span, at least 4 s apart; the killed worker is started again under the same worker
id after 1-2 s (seeded too). A share of the kills (`--in-send`, half by default) are made "in
send": the worker is armed, and the fake Bot API SIGKILLs it as soon as it has accepted that
worker's next message, before answering (each worker has its own bot token, so the fake knows
whose request it is); this is the one window where a kill must cost a repeat, and random timing
alone almost never hits it (a send takes milliseconds). An armed worker that sends nothing
within 15 s is killed there and then. Then the workers drain and are stopped with SIGTERM.
Every message the fake accepted is recorded with its arrival time; a statement's unique link
(`/s/<n>`) in a message counts as a delivery.

Printed: statements published, delivered, lost (goal 0); duplicates, i.e. deliveries beyond the
first per statement, and repeated messages, vs kills (goal: duplicates <= kills), each repeated
statement with its delivery times and the kill before the repeat; latency from
publication (the moment the feed served it) to the first delivery, p50/p99/max, and how many
exceeded 90 s plus the restart delay; alerts the database marks sent whose message the fake
never accepted (goal 0: never reported delivered when it was not); and each kill with its time,
the worker, the Bot API requests in flight and the worker's last log line. Exit status 1 when
anything is lost, duplicates exceed kills, or an alert is marked sent without its message.

Settings other than the user's defaults (printed too): `WATCHPOST_DATABASE_URL`,
`TELEGRAM_BOT_TOKEN` (one per worker) and `TELEGRAM_API_BASE_URL` (the fakes),
`WATCHPOST_WORKER_ID` (one per worker), and `interval: 10s` on every feed source in the
watchlist (`--interval`).
"""

from __future__ import annotations

import argparse
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO

from sqlalchemy import create_engine, func, select

from bot.fakes.feed_server import FeedServer
from bot.fakes.feedgen import FeedEntry, rss
from bot.fakes.http import LocalServer, Request, Response
from bot.fakes.telegram_api import FakeTelegram
from storage.schema import AlertRow, StatementRow


def token(worker: int) -> str:
    """Worker `worker`'s bot token: one each, so the fake knows which worker a send came from."""
    return f"111111:soak-{worker + 1}"


CHAT_INTERVAL = 3.0  # Telegram's pace per chat, and the worker's default
LATENCY_GOAL = 90.0
ARM_SECONDS = 15.0  # a kill in send that finds no send this long is an ordinary kill
KILL_GAP = 4.0  # least seconds between two kills: a restart (1-2 s) and a little uptime
# One topic term per feed (and channel); the rest of each text comes from _WORDS.
PLACES = (
    "Karabakh",
    "Stepanakert",
    "Shusha",
    "Hadrut",
    "Lachin",
    "Kalbajar",
    "Aghdam",
    "Fizuli",
    "Jabrayil",
    "Zangilan",
    "Martuni",
    "Askeran",
)
_WORDS = [
    "ministry",
    "statement",
    "ceasefire",
    "humanitarian",
    "corridor",
    "civilians",
    "shelling",
    "settlement",
    "talks",
    "delegation",
    "negotiations",
    "sovereignty",
    "territorial",
    "integrity",
    "region",
    "border",
    "troops",
    "positions",
    "artillery",
    "drones",
    "casualties",
    "wounded",
    "evacuation",
    "agreement",
    "violation",
    "observers",
    "peacekeeping",
    "mission",
    "resolution",
    "council",
    "mediators",
    "withdrawal",
    "prisoners",
    "exchange",
    "restraint",
    "escalation",
    "provocation",
    "infrastructure",
    "hospital",
    "school",
    "convoy",
    "refugees",
    "aid",
    "international",
    "community",
    "condemn",
    "urge",
    "welcome",
    "reaffirm",
    "commitment",
    "dialogue",
    "immediate",
    "spokesperson",
    "briefing",
    "parliament",
    "president",
    "minister",
    "foreign",
    "defence",
    "press",
    "release",
    "morning",
    "evening",
    "northern",
    "southern",
    "eastern",
    "western",
    "villages",
    "roads",
    "bridge",
    "power",
    "water",
    "supply",
    "shelter",
]
MARKER = re.compile(r"https://soak\.example/f\d+/s/(\d+)")


# --- the fakes ----------------------------------------------------------------------------


class RecordingTelegram:
    """`FakeTelegram` plus the wall-clock time each accepted message arrived at, and kills "in
    send": a worker armed with :meth:`arm` is SIGKILLed as soon as the fake has accepted its
    next message, before the answer leaves (Telegram posted it; the worker never learns)."""

    def __init__(self, chats: dict[str, int], tokens: list[str]) -> None:
        self.fake = FakeTelegram(tokens=tokens, chats=chats, chat_interval=CHAT_INTERVAL)
        self.lock = threading.Lock()
        self.accepted: list[tuple[float, int, int, str]] = []  # time, chat id, message id, html
        self.in_flight = 0
        self.refusals = 0
        self._armed: dict[str, int] = {}  # token: pid
        self.fired: list[tuple[float, str]] = []  # time, token

    def arm(self, token: str, pid: int) -> None:
        with self.lock:
            self._armed[token] = pid

    def disarm(self, token: str) -> bool:
        """Disarm; False if the kill has fired already."""
        with self.lock:
            return self._armed.pop(token, None) is not None

    def handle(self, request: Request) -> Response:
        with self.lock:
            self.in_flight += 1
        response = self.fake.handle(request)
        now = time.time()
        with self.lock:
            self.in_flight -= 1
            if response.status == 429:
                self.refusals += 1
            seen = len(self.accepted)
            new = self.fake.messages()[seen:]
            for m in new:
                self.accepted.append((now, m.chat_id, m.message_id, m.html))
            tok = request.path.split("/")[1].removeprefix("bot")
            if new and tok in self._armed:
                os.kill(self._armed.pop(tok), signal.SIGKILL)
                self.fired.append((now, tok))
        return response


def _sentence(rng: random.Random) -> str:
    text = " ".join(rng.choice(_WORDS) for _ in range(rng.randint(9, 16)))
    return text[0].upper() + text[1:] + "."


def _entry(feed: int, k: int, at: datetime, rng: random.Random) -> FeedEntry:
    place = PLACES[feed % len(PLACES)]
    body = " ".join(_sentence(rng) for _ in range(3))
    return FeedEntry(
        id=f"urn:soak:{feed}:{k}",
        title=f"{place}: {_sentence(rng)[:-1]} ({k})",
        html=f"<p>{place}. {body}</p>",
        link=f"https://soak.example/f{feed}/s/{k}",
        published=at,
    )


def _watchlist(feeds_url: str, n_feeds: int, interval: int) -> str:
    out = ["speakers:"]
    for f in range(n_feeds):
        out += [
            f"  - id: soak-{f:02d}",
            f"    name: Ministry {f:02d}",
            "    role: Foreign ministry",
            f"    side: Side {f % 2}",
            "    timezone: Asia/Baku",
            "    sources:",
            f'      - feed: "{feeds_url}/f{f:02d}.rss"',
            f"        interval: {interval}s",
        ]
    out.append("topics:")
    for f in range(n_feeds):
        out += [f"  - id: t{f:02d}", f"    name: {PLACES[f % len(PLACES)]} {f}", "    terms:"]
        out.append(f"      en: [{PLACES[f % len(PLACES)]}]")
    out.append("channels:")
    for f in range(n_feeds):
        out += [f"  - id: c{f:02d}", f'    chat: "@soak_{f:02d}"', f"    topics: [t{f:02d}]"]
    return "\n".join(out) + "\n"


# --- PostgreSQL -----------------------------------------------------------------------------


def _pg_bindir() -> Path | None:
    for cand in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (cand / "initdb").exists():
            return cand
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Postgres:
    """A throwaway cluster in a temp directory (as tests/conftest.py starts one)."""

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.tmp = Path(tempfile.mkdtemp(prefix="watchpost-soak-pg-"))
        self.port = _free_port()
        self.prefix: list[str] = []
        if os.geteuid() == 0:  # PostgreSQL refuses to run as root
            self.prefix = ["runuser", "-u", "postgres", "--"]
            shutil.chown(self.tmp, "postgres")
            self.tmp.chmod(0o700)
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def start(self) -> None:
        import psycopg

        data = str(self.tmp / "data")
        subprocess.run(
            [*self.prefix, str(self.bindir / "initdb"), "-D", data, "-A", "trust", "-U",
             "postgres", "-E", "UTF8", "--no-sync"],
            check=True,
            capture_output=True,
        )  # fmt: skip
        self.proc = subprocess.Popen(
            [*self.prefix, str(self.bindir / "postgres"), "-D", data, "-p", str(self.port),
             "-k", str(self.tmp), "-c", "listen_addresses=127.0.0.1"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while True:
            try:
                with psycopg.connect(self.url.replace("+psycopg", ""), connect_timeout=5):
                    return
            except psycopg.OperationalError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.tmp, ignore_errors=True)


# --- workers --------------------------------------------------------------------------------


@dataclass
class Worker:
    name: str
    env: dict[str, str]
    argv: list[str]
    log_path: Path
    proc: subprocess.Popen[bytes] | None = None
    log: IO[bytes] | None = None
    started: float = 0.0
    starts: int = 0
    unexpected_exits: list[int] = field(default_factory=list)

    def start(self) -> None:
        self.log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            self.argv, env=self.env, stdout=self.log, stderr=subprocess.STDOUT
        )
        self.started = time.time()
        self.starts += 1

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self._closed()

    def reap(self) -> None:
        """Collect a worker killed by someone else (the fake Bot API)."""
        assert self.proc is not None
        self.proc.wait()
        self._closed()

    def stop(self) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=40)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._closed()
        return self.proc.returncode

    def _closed(self) -> None:
        if self.log is not None:
            self.log.close()
            self.log = None

    def last_line(self) -> str:
        try:
            lines = self.log_path.read_bytes().decode("utf-8", "replace").splitlines()
        except OSError:
            return ""
        return lines[-1][:160] if lines else ""


@dataclass
class Kill:
    at: float
    worker: str
    uptime: float
    tg_in_flight: int
    feed_hits_last_2s: int
    last_line: str
    restart_delay: float
    in_send: bool = False

    @property
    def kind(self) -> str:
        """What the worker was last seen doing (its last log line), a guess at the phase."""
        if self.in_send:
            return "in send"
        if self.uptime < 3.0:
            return "starting"
        if self.tg_in_flight:
            return "sending"
        if "watchpost.delivery" in self.last_line:
            return "after a send"
        if "watchpost.poll" in self.last_line:
            return "after a poll"
        return "other"


@dataclass
class Outcome:
    label: str
    published: int
    delivered: int
    lost: list[int]
    duplicates: int
    repeated_messages: int
    repeats: dict[int, list[float]]  # statement: its deliveries, seconds after the start
    kills: list[Kill]
    latencies: list[float]
    over_goal: int
    refusals: int
    messages: int
    marked_without_message: int
    alert_counts: dict[str, int]
    unexpected_exits: int
    exit_codes: list[int | None]
    wall: float
    max_restart_delay: float


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _wait(cond: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        time.sleep(0.2)


def run_backend(args: argparse.Namespace, backend: str, tmp: Path) -> Outcome:
    rng = random.Random(f"{args.seed}-{backend}")
    pg: Postgres | None = None
    n_workers = 1 if backend == "sqlite" else args.pg_workers
    if backend == "sqlite":
        db_url = f"sqlite:///{tmp / 'soak.sqlite'}"
    else:
        bindir = _pg_bindir()
        if bindir is None:
            raise SystemExit("PostgreSQL binaries not found (apt-get install postgresql)")
        pg = Postgres(bindir)
        pg.start()
        db_url = pg.url
    feeds = FeedServer()
    chats = {f"@soak_{f:02d}": -1001000000100 - f for f in range(args.feeds)}
    telegram = RecordingTelegram(chats, [token(i) for i in range(n_workers)])
    entries: list[list[FeedEntry]] = [[] for _ in range(args.feeds)]
    text_rng = random.Random(f"{args.seed}-text")

    def publish(f: int) -> None:
        feeds.set_feed(
            f"/f{f:02d}.rss", rss(f"Ministry {f:02d}", "https://soak.example/", entries[f][::-1])
        )

    seed_at = datetime.now(UTC) - timedelta(hours=1)
    for f in range(args.feeds):
        entries[f].append(_entry(f, 0, seed_at, text_rng))
        publish(f)
    workers: list[Worker] = []
    engine = create_engine(db_url)
    try:
        with LocalServer(feeds.handle) as feed_srv, LocalServer(telegram.handle) as tg_srv:
            wl = tmp / f"watchlist-{backend}.yaml"
            wl.write_text(_watchlist(feed_srv.url, args.feeds, args.interval), encoding="utf-8")
            base_env = {k: v for k, v in os.environ.items() if not k.startswith("WATCHPOST_")}
            base_env.update(
                {
                    "WATCHPOST_DATABASE_URL": db_url,
                    "TELEGRAM_API_BASE_URL": tg_srv.url,
                    "PTB_TIMEDELTA": "true",
                }
            )
            for i in range(n_workers):
                env = dict(
                    base_env, WATCHPOST_WORKER_ID=f"soak-{i + 1}", TELEGRAM_BOT_TOKEN=token(i)
                )
                workers.append(
                    Worker(
                        name=f"soak-{i + 1}",
                        env=env,
                        argv=[sys.executable, "-m", "bot", "run", "--config", str(wl)],
                        log_path=tmp / f"{backend}-soak-{i + 1}.log",
                    )
                )
            for w in workers:
                w.start()

            def seeded() -> bool:
                for w in workers:
                    if not w.running:
                        raise RuntimeError(f"{w.name} exited at start: {w.last_line()}")
                with engine.connect() as conn:
                    try:
                        n = conn.execute(select(func.count()).select_from(StatementRow)).scalar()
                    except Exception:  # tables not there yet
                        return False
                return n == args.feeds

            _wait(seeded, 120, "the first poll of every feed")
            print(f"  warm-up done: {args.feeds} feeds polled once, seed items stored silently")

            start = time.time()
            pub_times = sorted(rng.uniform(0, args.seconds) for _ in range(args.statements))
            pub_feeds = [rng.randrange(args.feeds) for _ in range(args.statements)]
            # Uniform random times at least KILL_GAP apart (so a kill hits a worker that has
            # had time to start, not one still importing): draw in the span less the gaps.
            slack = max(0.0, args.seconds - 3 - KILL_GAP * args.kills)
            kill_times = [
                3 + i * KILL_GAP + x
                for i, x in enumerate(sorted(rng.uniform(0, slack) for _ in range(args.kills)))
            ]
            kill_targets = [rng.randrange(n_workers) for _ in range(args.kills)]
            kill_delays = [rng.uniform(1.0, 2.0) for _ in range(args.kills)]
            kill_in_send = [rng.random() < args.in_send for _ in range(args.kills)]
            # an armed kill: worker index -> (kill number, armed at, its deadline)
            armed: dict[int, tuple[int, float, float]] = {}
            published: dict[int, float] = {}
            kills: list[Kill] = []
            restarts: list[tuple[float, Worker]] = []
            k_pub = k_kill = 0
            unexpected = 0

            def kill(idx: int, n: int, at: float, *, in_send: bool) -> None:
                target = workers[idx]
                mono = time.monotonic()
                hits = sum(1 for r in feeds.requests() if r.at > mono - 2.0)
                line = target.last_line()
                in_flight = telegram.in_flight
                if in_send:
                    target.reap()
                else:
                    target.kill()
                kills.append(
                    Kill(
                        at=at,
                        worker=target.name,
                        uptime=start + at - target.started,
                        tg_in_flight=1 if in_send else in_flight,
                        feed_hits_last_2s=hits,
                        last_line=line,
                        restart_delay=kill_delays[n],
                        in_send=in_send,
                    )
                )
                restarts.append((time.time() + kill_delays[n], target))

            while k_pub < args.statements or k_kill < args.kills or restarts or armed:
                now = time.time()
                t = now - start
                fresh: list[int] = []
                while k_pub < args.statements and pub_times[k_pub] <= t:
                    f = pub_feeds[k_pub]
                    k_pub += 1
                    entries[f].append(_entry(f, k_pub, datetime.now(UTC), text_rng))
                    fresh.append(k_pub)
                for f in {pub_feeds[k - 1] for k in fresh}:
                    publish(f)
                now = time.time()
                published.update((k, now) for k in fresh)
                if k_kill < args.kills and kill_times[k_kill] <= t:
                    target = workers[kill_targets[k_kill]]
                    if not target.running or workers.index(target) in armed:
                        # restarting, or armed: take another, or wait for it
                        up = [w for w in workers if w.running and workers.index(w) not in armed]
                        target = up[0] if up else target
                    idx = workers.index(target)
                    if target.running and idx not in armed:
                        if kill_in_send[k_kill]:
                            assert target.proc is not None
                            telegram.arm(token(idx), target.proc.pid)
                            armed[idx] = (k_kill, t, now + ARM_SECONDS)
                        else:
                            kill(idx, k_kill, t, in_send=False)
                        k_kill += 1
                with telegram.lock:
                    fired, telegram.fired = telegram.fired, []
                for fired_at, tok in fired:
                    idx = next(i for i in range(n_workers) if token(i) == tok)
                    n, _, _ = armed.pop(idx)
                    kill(idx, n, fired_at - start, in_send=True)
                for idx, (n, _armed_at, deadline) in list(armed.items()):
                    if time.time() > deadline and telegram.disarm(token(idx)):
                        # nothing sent in time: an ordinary kill instead
                        del armed[idx]
                        kill(idx, n, time.time() - start, in_send=False)
                for when, w in list(restarts):
                    if when <= time.time():
                        w.start()
                        restarts.remove((when, w))
                for i, w in enumerate(workers):
                    if (
                        w.proc is not None
                        and not w.running
                        and i not in armed  # a kill in send, taken at the next turn
                        and all(w is not r for _, r in restarts)
                    ):
                        # exited by itself: a crash, not one of our kills
                        unexpected += 1
                        w.unexpected_exits.append(w.proc.returncode)
                        print(f"  !! {w.name} exited with {w.proc.returncode}: {w.last_line()}")
                        w.start()
                time.sleep(0.05)
            print(
                f"  published {args.statements} in {time.time() - start:.0f} s, "
                f"{len(kills)} kills; draining"
            )

            def drained() -> bool:
                delivered = {int(k) for *_, html in telegram.accepted for k in MARKER.findall(html)}
                if len(delivered & published.keys()) < len(published):
                    return False
                with engine.connect() as conn:
                    pending = conn.execute(
                        select(func.count())
                        .select_from(AlertRow)
                        .where(AlertRow.status == "pending")
                    ).scalar()
                return pending == 0

            try:
                _wait(drained, args.drain, "every statement delivered")
            except TimeoutError:
                print(f"  drain timed out after {args.drain:g} s")
            time.sleep(3)  # a late repeat would show here
            exit_codes = [w.stop() for w in workers]
            wall = time.time() - start
            with engine.connect() as conn:
                sent_rows = conn.execute(
                    select(AlertRow.channel_id, AlertRow.message_id).where(
                        AlertRow.status == "sent"
                    )
                ).all()
                counts = dict(
                    conn.execute(
                        select(AlertRow.status, func.count()).group_by(AlertRow.status)
                    ).all()
                )
    finally:
        for w in workers:
            if w.running:
                w.stop()
        engine.dispose()
        if pg is not None:
            pg.stop()

    first: dict[int, float] = {}
    deliveries: dict[int, list[float]] = {}
    repeated = 0
    for at, _chat, _mid, html in telegram.accepted:
        ks = {int(k) for k in MARKER.findall(html)}
        if ks and all(k in first for k in ks):
            repeated += 1
        for k in ks:
            first.setdefault(k, at)
            deliveries.setdefault(k, []).append(at - start)
    lost = sorted(k for k in published if k not in first)
    latencies = [first[k] - published[k] for k in published if k in first]
    max_delay = max((k.restart_delay for k in kills), default=0.0)
    accepted = {(chat, str(mid)) for _, chat, mid, _ in telegram.accepted}
    marked_without = sum(
        1 for ch, mid in sent_rows if (chats[f"@soak_{ch[1:]}"], str(mid)) not in accepted
    )
    return Outcome(
        label=f"{backend}, {n_workers} worker{'s' if n_workers > 1 else ''}",
        published=len(published),
        delivered=len(first.keys() & published.keys()),
        lost=lost,
        duplicates=sum(len(ts) - 1 for k, ts in deliveries.items() if k in published),
        repeats={k: ts for k, ts in deliveries.items() if len(ts) > 1},
        repeated_messages=repeated,
        kills=kills,
        latencies=latencies,
        over_goal=sum(1 for v in latencies if v > LATENCY_GOAL + max_delay),
        refusals=telegram.refusals,
        messages=len(telegram.accepted),
        marked_without_message=marked_without,
        alert_counts={str(k): int(v) for k, v in counts.items()},
        unexpected_exits=unexpected,
        exit_codes=exit_codes,
        wall=wall,
        max_restart_delay=max_delay,
    )


def report(args: argparse.Namespace, r: Outcome) -> bool:
    print(f"\n== {r.label}: {len(r.kills)} kills")
    for i, k in enumerate(r.kills, 1):
        print(
            f"  kill {i:2d} t={k.at:6.1f}s {k.worker} up {k.uptime:5.1f}s "
            f"Bot API in flight {k.tg_in_flight} feed hits (2 s) {k.feed_hits_last_2s:2d} "
            f"restart after {k.restart_delay:.1f}s [{k.kind}] | {k.last_line}"
        )
    kinds: dict[str, int] = {}
    for k in r.kills:
        kinds[k.kind] = kinds.get(k.kind, 0) + 1
    print(f"  kills by last activity   {kinds}")
    ok = not r.lost and r.duplicates <= len(r.kills) and r.marked_without_message == 0
    print(f"  statements published     {r.published}")
    print(f"  delivered                {r.delivered}")
    print(f"  lost                     {len(r.lost)}{' ' + str(r.lost[:20]) if r.lost else ''}")
    print(
        f"  duplicates               {r.duplicates} deliveries in {r.repeated_messages} "
        f"repeated messages (kills: {len(r.kills)})"
    )
    for k, ts in sorted(r.repeats.items()):
        # the cause: a kill in send at one of its earlier deliveries, else the last kill before
        cause = [c for c in r.kills if c.in_send and any(abs(c.at - t) < 0.5 for t in ts[:-1])]
        cause = cause or [c for c in r.kills if c.at <= ts[-1]][-1:]
        why = ", ".join(f"{c.kind} kill at {c.at:.1f} s of {c.worker}" for c in cause)
        print(
            f"    statement {k} delivered at {', '.join(f'{t:.1f}' for t in ts)} s; "
            f"{why or 'no kill before'}"
        )
    print(
        f"  latency p50/p99/max      {_pct(r.latencies, 0.5):.1f} / "
        f"{_pct(r.latencies, 0.99):.1f} / {max(r.latencies, default=float('nan')):.1f} s"
    )
    print(f"  over {LATENCY_GOAL:g} s + restart ({r.max_restart_delay:.1f} s)   {r.over_goal}")
    print(f"  messages accepted        {r.messages} (429s answered: {r.refusals})")
    print(f"  alerts by state          {r.alert_counts}")
    print(f"  marked sent, not sent    {r.marked_without_message}")
    print(f"  worker crashes           {r.unexpected_exits}; exit codes at SIGTERM {r.exit_codes}")
    print(f"  wall                     {r.wall:.0f} s")
    print(f"  goals (0 lost, duplicates <= kills): {'met' if ok else 'NOT MET'}")
    return ok


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--backend", choices=("both", "sqlite", "postgres"), default="both")
    p.add_argument("--statements", type=int, default=300)
    p.add_argument("--seconds", type=float, default=210.0, help="publication span")
    p.add_argument("--feeds", type=int, default=10, help="feeds = speakers = channels")
    p.add_argument("--kills", type=int, default=20)
    p.add_argument(
        "--in-send",
        type=float,
        default=0.5,
        help="share of kills made in send: at the worker's next message Telegram accepts",
    )
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--interval", type=int, default=10, help="poll interval of every feed, s")
    p.add_argument("--pg-workers", type=int, default=2)
    p.add_argument("--drain", type=float, default=180.0, help="longest wait to drain, s")
    p.add_argument("--keep", action="store_true", help="keep the temp dir (worker logs)")
    args = p.parse_args(argv)
    if args.feeds > len(PLACES):
        p.error(f"--feeds: at most {len(PLACES)}")
    backends = ("sqlite", "postgres") if args.backend == "both" else (args.backend,)
    print(
        f"kill -9 soak: {args.statements} statements over {args.seconds:g} s on {args.feeds} "
        f"feeds/channels, {args.kills} kills ({args.in_send:.0%} of them in send), "
        f"seed {args.seed}"
    )
    print(
        "settings other than the defaults: WATCHPOST_DATABASE_URL, TELEGRAM_BOT_TOKEN (one per "
        "worker), TELEGRAM_API_BASE_URL (the fakes), WATCHPOST_WORKER_ID=soak-N, "
        f"interval: {args.interval}s on every feed; fake Bot API paces chats at "
        f"{CHAT_INTERVAL:g} s"
    )
    ok = True
    tmp = Path(tempfile.mkdtemp(prefix="watchpost-soak-"))
    try:
        for backend in backends:
            print(f"\n-- {backend}")
            outcome = run_backend(args, backend, tmp)
            ok = report(args, outcome) and ok
    finally:
        if args.keep:
            print(f"\nlogs kept in {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
