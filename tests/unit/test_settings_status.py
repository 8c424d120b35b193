"""The status endpoint's settings: off unless a port is set, this host only unless asked."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.errors import ConfigError
from bot.settings import load_settings


def test_off_and_local_by_default() -> None:
    s = load_settings({})
    assert (s.metrics_port, s.metrics_host) == (None, "127.0.0.1")


def test_port_and_host_are_read() -> None:
    s = load_settings({"WATCHPOST_METRICS_PORT": "9464", "WATCHPOST_METRICS_HOST": "0.0.0.0"})
    assert (s.metrics_port, s.metrics_host) == (9464, "0.0.0.0")


@pytest.mark.parametrize("port", ["-1", "65536", "http"])
def test_a_bad_port_is_named(port: str) -> None:
    with pytest.raises(ConfigError) as exc:
        load_settings({"WATCHPOST_METRICS_PORT": port})
    assert [p.field for p in exc.value.problems] == ["WATCHPOST_METRICS_PORT"]


def test_database_url_from_a_secret_file(tmp_path: Path) -> None:
    """In Docker the URL, which holds the database password, comes from a secret file."""
    url = "postgresql+psycopg://watchpost:s3cret@postgres/watchpost"
    secret = tmp_path / "database_url"
    secret.write_text(url + "\n", encoding="utf-8")
    s = load_settings({"WATCHPOST_DATABASE_URL_FILE": str(secret)})
    assert s.database_url == url
    assert "s3cret" not in repr(s) and "s3cret" not in str(s.describe())


def test_database_url_given_twice_is_refused(tmp_path: Path) -> None:
    secret = tmp_path / "database_url"
    secret.write_text("postgresql://db/watchpost", encoding="utf-8")
    with pytest.raises(ConfigError) as exc:
        load_settings(
            {"WATCHPOST_DATABASE_URL_FILE": str(secret), "WATCHPOST_DATABASE_URL": "sqlite:///x"}
        )
    assert [p.field for p in exc.value.problems] == ["WATCHPOST_DATABASE_URL_FILE"]
