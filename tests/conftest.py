"""Shared fixtures: real databases (a SQLite file, a PostgreSQL server started from the installed
binaries), the corpus path, the Hypothesis profiles, and the PTB setting that keeps its
deprecation warning away.

Under ``CI=true`` (issue 7) the run is made to give the same answer every time: Hypothesis runs
derandomized without its example database (the ``ci`` profile), and a missing
``../shared/corpus`` fails the run instead of skipping the tests that check the fakes against
recorded real API answers. Elsewhere the ``dev`` profile explores with a new seed each run.
"""

from __future__ import annotations

import itertools
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

REPO = Path(__file__).resolve().parent.parent
CORPUS = REPO.parent / "shared" / "corpus"

os.environ.setdefault("PTB_TIMEDELTA", "true")


def in_ci(env: dict[str, str] | os._Environ[str] = os.environ) -> bool:
    """True when `env` says this is a CI run (``CI=true``, as CI services set it)."""
    return env.get("CI", "").strip().lower() in ("1", "true", "yes")


# "ci": the same examples on every run and machine (no seed, no example database), so a red CI
# run is a real regression, reproducible; found failures are pinned with @example in the tests.
# Both from Hypothesis' own defaults, whatever profile is loaded when this module runs.
settings.register_profile(
    "ci", parent=settings.get_profile("default"), derandomize=True, database=None, print_blob=True
)
# "dev": random exploration, a new seed each run (what finds the next bug).
settings.register_profile("dev", parent=settings.get_profile("default"))


def hypothesis_profile(env: dict[str, str] | os._Environ[str] = os.environ) -> str:
    """This run's profile: ``HYPOTHESIS_PROFILE`` if set, else ``ci`` under CI, else ``dev``."""
    return env.get("HYPOTHESIS_PROFILE") or ("ci" if in_ci(env) else "dev")


settings.load_profile(hypothesis_profile())


def pytest_configure(config: pytest.Config) -> None:
    # Under CI a missing corpus must not turn into a green run of skipped tests (issue 7).
    if in_ci() and not CORPUS.is_dir():
        raise pytest.UsageError(
            f"CI=true but the shared corpus is absent ({CORPUS}): the tests that check the fakes "
            "against recorded real API answers cannot run"
        )


def _pg_bindir() -> Path | None:
    env = os.environ.get("WATCHPOST_TEST_PG_BINDIR")
    if env:
        return Path(env)
    pg_config = shutil.which("pg_config")
    if pg_config:
        out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=False)
        cand = Path(out.stdout.strip())
        if (cand / "initdb").exists():
            return cand
    for cand in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (cand / "initdb").exists():
            return cand
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PostgresServer:
    """A throwaway PostgreSQL cluster in a temp directory, on a free 127.0.0.1 port."""

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.tmp = Path(tempfile.mkdtemp(prefix="watchpost-pg-"))
        self.data = self.tmp / "data"
        self.port = _free_port()
        self._proc: subprocess.Popen[bytes] | None = None
        # PostgreSQL refuses to run as root: run it as the "postgres" system user then.
        self._prefix: list[str] = []
        if os.geteuid() == 0:
            self._prefix = ["runuser", "-u", "postgres", "--"]
            shutil.chown(self.tmp, "postgres")
            self.tmp.chmod(0o700)

    def start(self) -> None:
        subprocess.run(
            [
                *self._prefix,
                str(self.bindir / "initdb"),
                "-D",
                str(self.data),
                "-A",
                "trust",
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--no-sync",
            ],
            check=True,
            capture_output=True,
        )
        self._proc = subprocess.Popen(
            [
                *self._prefix,
                str(self.bindir / "postgres"),
                "-D",
                str(self.data),
                "-p",
                str(self.port),
                "-k",
                str(self.tmp),
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                "fsync=off",
                "-c",
                "full_page_writes=off",
                "-c",
                "max_connections=200",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self._wait_until_ready()

    def _wait_until_ready(self) -> None:
        """Wait until the server answers a real login (an open port is not enough: it still
        refuses logins while it starts up), or fail as soon as the server process has exited."""
        import psycopg

        assert self._proc is not None
        dsn = self.url().replace("+psycopg", "")
        while True:
            try:
                with psycopg.connect(dsn, connect_timeout=5):
                    return
            except psycopg.OperationalError as exc:
                if self._proc.poll() is not None:
                    raise RuntimeError(f"PostgreSQL exited while starting: {exc}") from exc
                time.sleep(0.05)  # between checks of the condition

    def url(self, db: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{db}"

    def create_database(self, name: str) -> str:
        import psycopg

        with psycopg.connect(self.url().replace("+psycopg", ""), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        if self._proc is not None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self._proc.kill()
        shutil.rmtree(self.tmp, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    bindir = _pg_bindir()
    if bindir is None:
        if in_ci():
            pytest.fail("PostgreSQL binaries not found; .ci/run installs them")
        pytest.skip("PostgreSQL binaries not installed")
    server = PostgresServer(bindir)
    server.start()
    yield server
    server.stop()


_db_counter = itertools.count(1)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty database on each backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'watchpost.sqlite'}"
    server: PostgresServer = request.getfixturevalue("postgres_server")
    return server.create_database(f"t{os.getpid()}_{next(_db_counter)}")


@pytest.fixture
def corpus() -> Path:
    if not CORPUS.is_dir():
        pytest.skip("../shared/corpus is absent")
    return CORPUS
