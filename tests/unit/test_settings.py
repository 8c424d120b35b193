"""Settings from the environment: names, defaults, secret files, secrets kept out of sight."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError

from bot.errors import ConfigError
from bot.settings import ENVIRONMENT, Settings, load_settings

REPO = Path(__file__).resolve().parents[2]
EXAMPLE_ENV = REPO / "config" / "settings.example.env"

TOKEN = "123456:telegram-token-VALUE"
BEARER = "AAAA-x-bearer-VALUE"


def problems(env: dict[str, str]) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_settings(env)
    assert all(p.path == ENVIRONMENT and p.line is None for p in info.value.problems)
    return [str(p) for p in info.value.problems]


def read_env_file(path: Path) -> dict[str, str]:
    env = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            env[name.strip()] = value
    return env


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    # Settings() reads os.environ: keep the test runner's own variables out.
    for name in read_env_file(EXAMPLE_ENV):
        monkeypatch.delenv(name, raising=False)


def test_defaults() -> None:
    s = load_settings({})
    assert s.database_url == "sqlite:///watchpost.sqlite"
    assert s.config_path == "config/watchlist.yaml"
    assert s.telegram_bot_token is None
    assert s.x_bearer_token is None
    assert s.telegram_api_base_url == "https://api.telegram.org"
    assert s.x_api_base_url == "https://api.twitter.com"
    assert (s.default_interval_seconds, s.default_interval) == (60, timedelta(seconds=60))
    assert (s.poll_tick_seconds, s.poll_concurrency, s.poll_batch_size) == (5, 32, 500)
    assert (s.http_connect_timeout, s.http_read_timeout, s.http_total_timeout) == (10, 20, 45)
    assert (s.max_body_bytes, s.max_redirects) == (10_000_000, 5)
    assert s.user_agent == "Watchpost/0.1 (+https://github.com/watchpost)"
    assert (s.backoff_base_seconds, s.backoff_max_seconds, s.backoff_jitter) == (30, 21600, 0.1)
    assert (s.dispatch_tick_seconds, s.telegram_chat_interval_seconds) == (2, 3.0)
    assert (s.telegram_global_rate_per_second, s.telegram_timeout) == (25, 20)
    assert (s.delivery_max_attempts, s.delivery_backoff_max_seconds) == (50, 3600)
    assert (s.lease_seconds, s.text_max_chars) == (300, 1500)
    assert (s.log_level, s.log_format) == ("INFO", "text")


def test_environment_names() -> None:
    s = load_settings(
        {
            "WATCHPOST_DATABASE_URL": "postgresql+psycopg://watch@db/watchpost",
            "WATCHPOST_CONFIG": "/etc/watchpost/watchlist.yaml",
            "TELEGRAM_BOT_TOKEN": TOKEN,
            "TELEGRAM_API_BASE_URL": "http://127.0.0.1:8081/",
            "X_BEARER_TOKEN": BEARER,
            "X_API_BASE_URL": "http://127.0.0.1:8082",
            "WATCHPOST_POLL_CONCURRENCY": "4",
            "WATCHPOST_TELEGRAM_CHAT_INTERVAL_SECONDS": "0",
            "WATCHPOST_LOG_LEVEL": "debug",
            "WATCHPOST_LOG_FORMAT": "JSON",
        }
    )
    assert s.database_url == "postgresql+psycopg://watch@db/watchpost"
    assert s.config_path == "/etc/watchpost/watchlist.yaml"
    assert s.telegram_bot_token is not None
    assert s.telegram_bot_token.get_secret_value() == TOKEN
    assert s.x_bearer_token is not None
    assert s.x_bearer_token.get_secret_value() == BEARER
    assert s.telegram_api_base_url == "http://127.0.0.1:8081"
    assert s.x_api_base_url == "http://127.0.0.1:8082"
    assert (s.poll_concurrency, s.telegram_chat_interval_seconds) == (4, 0)
    assert (s.log_level, s.log_format) == ("DEBUG", "json")


def test_every_setting_has_its_variable_in_the_example_env() -> None:
    example = read_env_file(EXAMPLE_ENV)
    assert set(load_settings({}).describe()) | {
        "TELEGRAM_BOT_TOKEN_FILE",
        "X_BEARER_TOKEN_FILE",
        "WATCHPOST_DATABASE_URL_FILE",
    } == set(example)
    # The example holds the defaults, and no secret.
    assert load_settings(example) == load_settings({})
    assert example["TELEGRAM_BOT_TOKEN"] == example["X_BEARER_TOKEN"] == ""


def test_empty_variable_counts_as_unset() -> None:
    s = load_settings({"WATCHPOST_POLL_CONCURRENCY": "", "TELEGRAM_BOT_TOKEN": ""})
    assert (s.poll_concurrency, s.telegram_bot_token) == (32, None)


def test_secrets_from_files(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(f"  {TOKEN}\n", encoding="utf-8")
    bearer_file = tmp_path / "bearer"
    bearer_file.write_text(BEARER + "\n", encoding="utf-8")
    s = load_settings(
        {"TELEGRAM_BOT_TOKEN_FILE": str(token_file), "X_BEARER_TOKEN_FILE": str(bearer_file)}
    )
    assert s.telegram_bot_token == SecretStr(TOKEN)
    assert s.x_bearer_token == SecretStr(BEARER)


def test_secret_file_problems_name_the_variable(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.write_text("\n", encoding="utf-8")
    missing = tmp_path / "missing"
    assert problems(
        {
            "TELEGRAM_BOT_TOKEN_FILE": str(missing),
            "X_BEARER_TOKEN_FILE": str(empty),
        }
    ) == [
        f"environment: TELEGRAM_BOT_TOKEN_FILE: cannot read {str(missing)!r}: "
        "No such file or directory",
        f"environment: X_BEARER_TOKEN_FILE: {str(empty)!r} is empty",
    ]


def test_secret_given_twice_is_a_problem(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN, encoding="utf-8")
    found = problems({"TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_BOT_TOKEN_FILE": str(token_file)})
    assert found == [
        "environment: TELEGRAM_BOT_TOKEN_FILE: set either TELEGRAM_BOT_TOKEN or "
        "TELEGRAM_BOT_TOKEN_FILE"
    ]
    assert TOKEN not in found[0]


def test_secrets_never_shown(tmp_path: Path) -> None:
    s = load_settings(
        {
            "TELEGRAM_BOT_TOKEN": TOKEN,
            "X_BEARER_TOKEN": BEARER,
            "WATCHPOST_DATABASE_URL": "postgresql://watch:db-PASSWORD@db:5432/watchpost",
        }
    )
    shown = [repr(s), str(s), repr(s.describe()), s.model_dump_json()]
    for text in shown:
        assert TOKEN not in text
        assert BEARER not in text
    for text in shown[:3]:
        assert "db-PASSWORD" not in text
    d = s.describe()
    assert (d["TELEGRAM_BOT_TOKEN"], d["X_BEARER_TOKEN"]) == ("set", "set")
    assert d["WATCHPOST_DATABASE_URL"] == "postgresql://watch:***@db:5432/watchpost"
    assert load_settings({}).describe()["TELEGRAM_BOT_TOKEN"] == "unset"


def test_describe_shows_every_setting_by_variable() -> None:
    d = load_settings({"WATCHPOST_POLL_BATCH_SIZE": "7"}).describe()
    assert len(d) == len(Settings.model_fields)
    assert d["WATCHPOST_POLL_BATCH_SIZE"] == "7"
    assert d["WATCHPOST_CONFIG"] == "config/watchlist.yaml"
    assert d["WATCHPOST_LOG_FORMAT"] == "text"
    assert all(isinstance(v, str) for v in d.values())


@pytest.mark.parametrize(
    ("var", "value", "message"),
    [
        ("WATCHPOST_POLL_CONCURRENCY", "0", "must be at least 1 (got '0')"),
        ("WATCHPOST_POLL_TICK_SECONDS", "-1", "must be more than 0 (got '-1')"),
        ("WATCHPOST_MAX_BODY_BYTES", "lots", "expected a whole number (got 'lots')"),
        ("WATCHPOST_DEFAULT_INTERVAL_SECONDS", "1.5", "expected a whole number (got '1.5')"),
        ("WATCHPOST_HTTP_READ_TIMEOUT", "nan", "expected a finite number (got 'nan')"),
        ("WATCHPOST_HTTP_READ_TIMEOUT", "inf", "expected a finite number (got 'inf')"),
        ("WATCHPOST_BACKOFF_JITTER", "2", "must be at most 1 (got '2')"),
        ("WATCHPOST_TEXT_MAX_CHARS", "5000", "must be at most 4096 (got '5000')"),
        ("WATCHPOST_LOG_FORMAT", "xml", "must be 'text' or 'json' (got 'xml')"),
        (
            "WATCHPOST_LOG_LEVEL",
            "LOUD",
            "must be 'DEBUG', 'INFO', 'WARNING', 'ERROR' or 'CRITICAL' (got 'LOUD')",
        ),
        (
            "WATCHPOST_DATABASE_URL",
            "watchpost.sqlite",
            "expected a database URL such as sqlite:///watchpost.sqlite",
        ),
        ("X_API_BASE_URL", "api.twitter.com", "expected an http:// or https:// URL"),
        ("TELEGRAM_API_BASE_URL", "ftp://example.org", "expected an http:// or https:// URL"),
        (
            "WATCHPOST_BACKOFF_MAX_SECONDS",
            "10",
            "must not be below WATCHPOST_BACKOFF_BASE_SECONDS",
        ),
        (
            "WATCHPOST_HTTP_TOTAL_TIMEOUT",
            "15",
            "must not be below WATCHPOST_HTTP_CONNECT_TIMEOUT or WATCHPOST_HTTP_READ_TIMEOUT",
        ),
    ],
)
def test_bad_value_names_the_variable(var: str, value: str, message: str) -> None:
    assert problems({var: value}) == [f"environment: {var}: {message}"]


def test_every_bad_value_is_reported_at_once(tmp_path: Path) -> None:
    found = problems(
        {
            "TELEGRAM_BOT_TOKEN_FILE": str(tmp_path / "absent"),
            "WATCHPOST_POLL_CONCURRENCY": "many",
            "WATCHPOST_LEASE_SECONDS": "0",
        }
    )
    assert [line.split(":")[1].strip() for line in found] == [
        "TELEGRAM_BOT_TOKEN_FILE",
        "WATCHPOST_POLL_CONCURRENCY",
        "WATCHPOST_LEASE_SECONDS",
    ]


def test_url_with_password_is_redacted_in_problems() -> None:
    found = problems({"WATCHPOST_DATABASE_URL": "watch:db-PASSWORD@db"})
    assert "db-PASSWORD" not in found[0]


def test_load_settings_reads_os_environ_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WATCHPOST_POLL_BATCH_SIZE", "9")
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", TOKEN)
    s = load_settings()
    assert s.poll_batch_size == 9
    assert s.telegram_bot_token == SecretStr(TOKEN)


def test_given_mapping_ignores_os_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WATCHPOST_POLL_BATCH_SIZE", "not a number")
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN_FILE", "/nonexistent/token")
    assert load_settings({}).poll_batch_size == 500


def test_constructor_takes_values_and_reads_the_rest(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN, encoding="utf-8")
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN_FILE", str(token_file))
    monkeypatch.setenv("WATCHPOST_POLL_TICK_SECONDS", "1.5")
    s = Settings(poll_concurrency=3)
    assert (s.poll_concurrency, s.poll_tick_seconds) == (3, 1.5)
    assert s.telegram_bot_token == SecretStr(TOKEN)


def test_settings_are_frozen() -> None:
    s = load_settings({})
    with pytest.raises(ValidationError):
        s.poll_concurrency = 1


def test_pydantic_errors_do_not_echo_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    # Settings() raises pydantic's own error; its text must not carry the values given.
    with pytest.raises(ValidationError) as info:
        Settings(telegram_bot_token=TOKEN, poll_concurrency="x")  # type: ignore[arg-type]
    assert TOKEN not in str(info.value)
    assert "'x'" not in str(info.value)
