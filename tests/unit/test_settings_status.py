"""The status endpoint's settings: off unless a port is set, this host only unless asked."""

from __future__ import annotations

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
