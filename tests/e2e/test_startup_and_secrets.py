"""Issue 11: database problems at start are one line and exit 2; credentials written in a feed
URL never reach a log line or `watchpost sources`."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from bot.cli import main
from bot.exitcodes import ExitStatus
from tests.e2e.conftest import WATCHLIST, World


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize(
    ("url", "said"),
    [
        # nothing listens on the port: the server is down
        (lambda tmp: f"postgresql://postgres@127.0.0.1:{_free_port()}/watchpost", "database "),
        (lambda tmp: f"sqlite:///{tmp}/no/such/dir/wp.sqlite", "unable to open"),
        # SQLite opened read-only (as root, file modes do not stop writes: ask SQLite itself)
        (lambda tmp: f"sqlite:///file:{tmp}/ro.sqlite?mode=ro&uri=true", "database "),
        (lambda tmp: "mysql://user:pw@127.0.0.1/watchpost", "unsupported database 'mysql'"),
    ],
    ids=["server-down", "bad-path", "read-only", "mysql"],
)
@pytest.mark.parametrize("command", ["run", "once", "sources"])
def test_database_problems_at_start_are_one_line_and_exit_2(
    world: World,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    url,
    said: str,
    command: str,
) -> None:
    (tmp_path / "ro.sqlite").write_bytes(b"")
    config = tmp_path / "w.yaml"
    config.write_text(WATCHLIST.replace("{feeds}", world.feeds.url), encoding="utf-8")
    for name, value in world.env(WATCHPOST_DATABASE_URL=url(tmp_path)).items():
        monkeypatch.setenv(name, value)
    assert main(["--config", str(config), command]) == ExitStatus.USAGE
    err = capsys.readouterr().err.strip().splitlines()
    problems = [line for line in err if "problem(s) found" not in line]
    assert len(problems) == 1, err
    assert said in problems[0] and "Traceback" not in problems[0]
    assert ":pw@" not in problems[0]


SECRET_FEED = (
    "speakers:\n"
    "  - id: hub\n"
    "    name: Local RSSHub\n"
    "    side: A\n"
    "    timezone: UTC\n"
    "    sources:\n"
    '      - feed: "http://reader:hunter2-pass@{host}/missing.rss?api_key=SEKRET-KEY-42&lang=en"\n'
    "topics:\n"
    "  - id: t\n"
    "    name: T\n"
    "    terms: {{en: [Karabakh]}}\n"
    "channels:\n"
    "  - id: main\n"
    "    chat: '@main_watch'\n"
)


def test_credentials_in_a_feed_url_are_never_shown(
    world: World,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = tmp_path / "w.yaml"
    host = world.feeds.url.removeprefix("http://")
    config.write_text(SECRET_FEED.format(host=host), encoding="utf-8")
    for name, value in world.env(WATCHPOST_LOG_LEVEL="DEBUG").items():
        monkeypatch.setenv(name, value)
    assert main(["--config", str(config), "once"]) == ExitStatus.FAILED  # the feed is a 404
    assert main(["--config", str(config), "sources"]) == ExitStatus.OK
    shown = capsys.readouterr()
    everything = shown.out + shown.err
    assert "404" in everything and "missing.rss" in everything  # the failure is shown...
    assert "hunter2-pass" not in everything and "SEKRET-KEY-42" not in everything  # ...not them
    assert "api_key=***" in everything and "lang=en" in everything
