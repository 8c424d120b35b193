"""docker-compose.yml names real settings and wires what it says (no Docker engine needed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from bot.settings import load_settings

COMPOSE = Path(__file__).resolve().parents[2] / "docker-compose.yml"
SECRET_FILES = {"TELEGRAM_BOT_TOKEN_FILE", "X_BEARER_TOKEN_FILE", "WATCHPOST_DATABASE_URL_FILE"}


def _compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    return data


def _workers(c: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: s for name, s in c["services"].items() if name.startswith("worker")}


def test_every_variable_is_a_setting() -> None:
    """A misspelt variable would be ignored silently: the worker would run on a default."""
    known = set(load_settings({}).describe()) | SECRET_FILES
    workers = _workers(_compose())
    assert len(workers) == 2
    for name, w in workers.items():
        assert set(w["environment"]) <= known, name


def test_workers_have_distinct_ids_and_share_postgres() -> None:
    c = _compose()
    workers = _workers(c)
    ids = {w["environment"]["WATCHPOST_WORKER_ID"] for w in workers.values()}
    assert ids == set(workers)
    for w in workers.values():
        assert w["depends_on"]["postgres"]["condition"] == "service_healthy"
        assert w["environment"]["WATCHPOST_DATABASE_URL_FILE"] == "/run/secrets/database_url"
    assert "pg_isready" in c["services"]["postgres"]["healthcheck"]["test"]


def test_secrets_come_from_files_and_config_is_read_only() -> None:
    c = _compose()
    declared = set(c["secrets"])
    assert all("file" in spec for spec in c["secrets"].values())
    for w in _workers(c).values():
        env = w["environment"]
        assert not {"TELEGRAM_BOT_TOKEN", "X_BEARER_TOKEN", "WATCHPOST_DATABASE_URL"} & set(env)
        assert set(w["secrets"]) <= declared
        for var in SECRET_FILES & set(env):
            assert env[var].removeprefix("/run/secrets/") in w["secrets"]
        assert "./config:/app/config:ro" in w["volumes"]
        assert env["WATCHPOST_CONFIG"].startswith("/app/config/")


def test_healthcheck_asks_the_workers_health_endpoint() -> None:
    for w in _workers(_compose()).values():
        env = w["environment"]
        settings = load_settings({k: v for k, v in env.items() if k not in SECRET_FILES})
        probe = " ".join(w["healthcheck"]["test"])
        assert f"http://127.0.0.1:{settings.metrics_port}/healthz" in probe
