"""Process settings from the environment and secret files: where things are, and every limit.

Each setting has one environment variable (``WATCHPOST_<NAME>`` for limits) and a safe default.
Secrets are ``SecretStr``, may come from a file named by ``<NAME>_FILE`` (Docker/Kubernetes
secrets), and never appear in ``repr``, ``str``, ``describe()`` or error messages. An empty
variable counts as unset. ``load_settings`` turns bad values into one ``ConfigError`` naming each
variable. Only ``bot.app`` and ``bot.cli`` read settings; everything below receives plain values.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from datetime import timedelta
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import (
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.fields import FieldInfo
from pydantic_core import PydanticCustomError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from bot.errors import ConfigError, ConfigProblem

__all__ = ["ENVIRONMENT", "Settings", "load_settings"]

#: The ``path`` of every settings problem.
ENVIRONMENT = "environment"

_DAY = 86400
# The secrets that may also be read from a file named by "<NAME>_FILE" (the database URL holds
# a password: in Docker it comes from a secret file too).
_SECRET_ENV = ("TELEGRAM_BOT_TOKEN", "X_BEARER_TOKEN", "WATCHPOST_DATABASE_URL")
_URL_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")
#: the backends Watchpost is built and tested for
_DATABASES = ("sqlite", "postgresql", "postgres")


def _env(name: str) -> str:
    return "WATCHPOST_" + name.upper()


def _redact_url(url: str) -> str:
    """The URL with any password replaced, so it can be shown."""
    try:
        parts = urlsplit(url)
        if parts.password is None:
            return url
        host = parts.hostname or ""
        if parts.port is not None:
            host += f":{parts.port}"
        netloc = f"{parts.username}:***@{host}" if parts.username else f":***@{host}"
        return urlunsplit(parts._replace(netloc=netloc))
    except ValueError:
        return "<unparsable URL>"


def _fail(env_name: str, message: str) -> PydanticCustomError:
    # "field" lets load_settings name the variable of a check that spans two settings.
    return PydanticCustomError("settings", message, {"field": env_name})


class Settings(BaseSettings):
    """Every process setting, frozen; secrets are ``SecretStr``.

    Build it with ``load_settings()``. ``Settings(**values)`` also works (field names or
    variable names as keys); values not given are read from ``os.environ``.
    """

    model_config = SettingsConfigDict(
        frozen=True,
        extra="forbid",
        validate_by_name=True,
        validate_by_alias=True,
        allow_inf_nan=False,
        hide_input_in_errors=True,
        validate_default=True,
    )

    # --- where things are ----------------------------------------------------------------------
    #: SQLAlchemy URL; the default is a SQLite file in the working directory
    database_url: str = Field(
        default="sqlite:///watchpost.sqlite", validation_alias="WATCHPOST_DATABASE_URL"
    )
    #: the watchlist file
    config_path: str = Field(default="config/watchlist.yaml", validation_alias="WATCHPOST_CONFIG")
    telegram_bot_token: SecretStr | None = Field(
        default=None, validation_alias="TELEGRAM_BOT_TOKEN"
    )
    #: point at a local Bot API server or a test double
    telegram_api_base_url: str = Field(
        default="https://api.telegram.org", validation_alias="TELEGRAM_API_BASE_URL"
    )
    #: print alerts on the console instead of sending them (without a token, `run` refuses to
    #: start unless this is on: issue 7); console alerts are recorded as shown, never as sent
    console: bool = Field(default=False, validation_alias=_env("console"))
    #: this worker's name in leases; a worker restarted under the same name takes back its own
    #: leases at once (default: the host name; give each worker on one host its own)
    worker_id: str | None = Field(default=None, validation_alias=_env("worker_id"))
    x_bearer_token: SecretStr | None = Field(default=None, validation_alias="X_BEARER_TOKEN")
    x_api_base_url: str = Field(
        default="https://api.twitter.com", validation_alias="X_API_BASE_URL"
    )

    # --- polling -------------------------------------------------------------------------------
    #: interval of a source that names none
    default_interval_seconds: int = Field(
        default=60, ge=1, le=7 * _DAY, validation_alias=_env("default_interval_seconds")
    )
    #: how often the scheduler looks for due sources
    poll_tick_seconds: float = Field(
        default=5, gt=0, le=3600, validation_alias=_env("poll_tick_seconds")
    )
    #: how often `run` looks at the watchlist file for edits (hot reload); 0 turns it off
    reload_seconds: float = Field(default=5, ge=0, le=3600, validation_alias=_env("reload_seconds"))
    #: the event loop held this long is logged with where it is held (bot.looplag)
    loop_warn_seconds: float = Field(
        default=1.0, gt=0, le=3600, validation_alias=_env("loop_warn_seconds")
    )
    #: the chat operator notices go to (`@username` or id); unset: they are logged only
    operator_chat: str | None = Field(default=None, validation_alias=_env("operator_chat"))
    #: how often `run` decides operator notices; 0 turns them off
    notice_seconds: float = Field(
        default=60, ge=0, le=86400, validation_alias=_env("notice_seconds")
    )
    #: a source failing for longer than this is noticed
    notice_failing_hours: float = Field(
        default=6, ge=0, le=24 * 30, validation_alias=_env("notice_failing_hours")
    )
    #: sources fetched at the same time
    poll_concurrency: int = Field(
        default=32, ge=1, le=1024, validation_alias=_env("poll_concurrency")
    )
    #: sources claimed per tick
    poll_batch_size: int = Field(
        default=500, ge=1, le=100_000, validation_alias=_env("poll_batch_size")
    )

    # --- X accounts ----------------------------------------------------------------------------
    #: "batched": one recent search covers many accounts; "per_account": one timeline each
    x_strategy: Literal["batched", "per_account"] = Field(
        default="batched", validation_alias=_env("x_strategy")
    )
    #: the operator's X API plan: "pay-per-use", "basic" or "pro" (figures in bot/x/plan.py)
    x_plan: str = Field(default="pay-per-use", min_length=1, validation_alias=_env("x_plan"))
    #: the day of the month the plan's usage cap resets (its billing day, not the 1st)
    x_billing_day: int | None = Field(
        default=None, ge=1, le=28, validation_alias=_env("x_billing_day")
    )
    #: overrides the plan's monthly post-read cap (0: no cap)
    x_monthly_read_cap: int | None = Field(
        default=None, ge=0, validation_alias=_env("x_monthly_read_cap")
    )
    #: overrides the plan's price of one post read
    x_price_per_read: float | None = Field(
        default=None, ge=0, validation_alias=_env("x_price_per_read")
    )
    #: override the plan's requests per 15 minutes per endpoint (your contract's figures)
    x_timeline_per_15m: int | None = Field(
        default=None, ge=0, le=1_000_000, validation_alias=_env("x_timeline_per_15m")
    )
    x_search_per_15m: int | None = Field(
        default=None, ge=0, le=1_000_000, validation_alias=_env("x_search_per_15m")
    )
    x_lookup_per_15m: int | None = Field(
        default=None, ge=0, le=1_000_000, validation_alias=_env("x_lookup_per_15m")
    )
    x_users_per_15m: int | None = Field(
        default=None, ge=0, le=1_000_000, validation_alias=_env("x_users_per_15m")
    )
    #: override the plan's longest recent-search query
    x_max_query_length: int | None = Field(
        default=None, ge=32, le=4096, validation_alias=_env("x_max_query_length")
    )
    #: posts a watched account is expected to publish per day, for the budget's projection
    x_expected_posts_per_day: float = Field(
        default=8, ge=0, le=10_000, validation_alias=_env("x_expected_posts_per_day")
    )
    #: how long after publication statements are re-checked for deletion
    x_deletion_window_hours: float = Field(
        default=48, ge=0, le=24 * 30, validation_alias=_env("x_deletion_window_hours")
    )
    #: sweeps of that window per day (the planner may lower it to stay within the budget)
    x_deletion_checks_per_day: float = Field(
        default=24, ge=0, le=86400, validation_alias=_env("x_deletion_checks_per_day")
    )
    x_timeout: float = Field(default=20, gt=0, le=600, validation_alias=_env("x_timeout"))

    # --- HTTP (feeds) --------------------------------------------------------------------------
    http_connect_timeout: float = Field(
        default=10, gt=0, le=600, validation_alias=_env("http_connect_timeout")
    )
    http_read_timeout: float = Field(
        default=20, gt=0, le=600, validation_alias=_env("http_read_timeout")
    )
    #: the whole request, body included
    http_total_timeout: float = Field(
        default=45, gt=0, le=3600, validation_alias=_env("http_total_timeout")
    )
    #: larger bodies are cut off and rejected
    max_body_bytes: int = Field(
        default=10_000_000, ge=1024, le=1_000_000_000, validation_alias=_env("max_body_bytes")
    )
    max_redirects: int = Field(default=5, ge=0, le=30, validation_alias=_env("max_redirects"))
    user_agent: str = Field(
        default="Watchpost/0.1 (+https://github.com/watchpost)",
        min_length=1,
        max_length=512,
        validation_alias=_env("user_agent"),
    )

    # --- Telegram channels (public web preview) ------------------------------------------------
    #: where channel previews are read: the page of a channel is {base}/s/{channel}
    telegram_preview_base_url: str = Field(
        default="https://t.me", validation_alias=_env("telegram_preview_base_url")
    )
    #: older pages (20 posts each) one poll reads after downtime; a longer backlog is read on
    #: the following polls, and the gap is shown to the operator meanwhile
    telegram_preview_max_pages: int = Field(
        default=50, ge=1, le=1000, validation_alias=_env("telegram_preview_max_pages")
    )
    #: the shortest gap between two requests to the preview's host (5 a second at most)
    telegram_preview_interval_seconds: float = Field(
        default=0.2, ge=0, le=60, validation_alias=_env("telegram_preview_interval_seconds")
    )
    #: each gap is longer by up to this fraction, at random
    telegram_preview_jitter: float = Field(
        default=0.5, ge=0, le=5, validation_alias=_env("telegram_preview_jitter")
    )
    #: a poll waits at most this long for its turn at the host; longer (after a 429), it is
    #: put off without counting a failure
    telegram_preview_max_wait_seconds: float = Field(
        default=30, ge=0, le=3600, validation_alias=_env("telegram_preview_max_wait_seconds")
    )

    # --- failing sources -----------------------------------------------------------------------
    backoff_base_seconds: float = Field(
        default=30, gt=0, le=7 * _DAY, validation_alias=_env("backoff_base_seconds")
    )
    backoff_max_seconds: float = Field(
        default=6 * 3600, gt=0, le=30 * _DAY, validation_alias=_env("backoff_max_seconds")
    )
    #: fraction of a delay added or removed at random, so failing sources do not retry in step
    backoff_jitter: float = Field(default=0.1, ge=0, le=1, validation_alias=_env("backoff_jitter"))

    # --- delivery (Telegram) -------------------------------------------------------------------
    dispatch_tick_seconds: float = Field(
        default=2, gt=0, le=3600, validation_alias=_env("dispatch_tick_seconds")
    )
    #: seconds between two messages to one chat: a channel takes 20 messages a minute
    telegram_chat_interval_seconds: float = Field(
        default=3.0, ge=0, le=3600, validation_alias=_env("telegram_chat_interval_seconds")
    )
    #: messages per second over all chats (Telegram allows about 30)
    telegram_global_rate_per_second: float = Field(
        default=25, gt=0, le=1000, validation_alias=_env("telegram_global_rate_per_second")
    )
    #: issue 11: a channel's backlog that would make an alert later than this is gathered into
    #: digest messages (urgent alerts still go one by one, first); 0 never gathers
    burst_max_delay_seconds: float = Field(
        default=60, ge=0, le=_DAY, validation_alias=_env("burst_max_delay_seconds")
    )
    telegram_timeout: float = Field(
        default=20, gt=0, le=600, validation_alias=_env("telegram_timeout")
    )
    #: an alert is given up after this many failed sends
    delivery_max_attempts: int = Field(
        default=50, ge=1, le=10_000, validation_alias=_env("delivery_max_attempts")
    )
    delivery_backoff_max_seconds: float = Field(
        default=3600, gt=0, le=7 * _DAY, validation_alias=_env("delivery_backoff_max_seconds")
    )

    # --- housekeeping and output ---------------------------------------------------------------
    #: how long a claimed source stays claimed by a worker that went silent
    lease_seconds: int = Field(default=300, ge=1, le=_DAY, validation_alias=_env("lease_seconds"))
    #: statement text kept in an alert, in characters
    text_max_chars: int = Field(
        default=1500, ge=1, le=4096, validation_alias=_env("text_max_chars")
    )
    #: port of /metrics and /healthz (unset: no endpoint; 0: any free port, logged)
    metrics_port: int | None = Field(
        default=None, ge=0, le=65535, validation_alias=_env("metrics_port")
    )
    #: address they listen on: this host only unless the operator opts in (0.0.0.0 in a container)
    metrics_host: str = Field(
        default="127.0.0.1", min_length=1, max_length=255, validation_alias=_env("metrics_host")
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = Field(
        default="INFO", validation_alias=_env("log_level")
    )
    log_format: Literal["text", "json"] = Field(default="text", validation_alias=_env("log_format"))

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Values given to the constructor first, then our own environment reader."""
        return (init_settings, _EnvironmentSource(settings_cls))

    @field_validator("log_level", "log_format", mode="before")
    @classmethod
    def _fold_case(cls, value: Any, info: ValidationInfo) -> Any:
        if isinstance(value, str):
            value = value.strip()
            return value.upper() if info.field_name == "log_level" else value.lower()
        return value

    @field_validator("database_url")
    @classmethod
    def _check_database_url(cls, value: str) -> str:
        if not _URL_SCHEME.match(value.strip()):
            raise PydanticCustomError(
                "settings", "expected a database URL such as sqlite:///watchpost.sqlite"
            )
        backend = value.strip().split(":", 1)[0].split("+", 1)[0].lower()
        if backend not in _DATABASES:
            # issue 11: a mysql:// URL passed this check and failed at start with a traceback
            raise PydanticCustomError(
                "settings",
                "unsupported database '{backend}': use sqlite:///FILE or postgresql://…",
                {"backend": backend},
            )
        return value.strip()

    @field_validator("telegram_api_base_url", "x_api_base_url", "telegram_preview_base_url")
    @classmethod
    def _check_base_url(cls, value: str) -> str:
        url = value.strip()
        try:
            parts = urlsplit(url)
        except ValueError:
            parts = urlsplit("")
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise PydanticCustomError("settings", "expected an http:// or https:// URL")
        return url.rstrip("/")

    @model_validator(mode="after")
    def _check_pairs(self) -> Settings:
        if self.backoff_max_seconds < self.backoff_base_seconds:
            raise _fail(
                _env("backoff_max_seconds"), "must not be below WATCHPOST_BACKOFF_BASE_SECONDS"
            )
        if self.http_total_timeout < max(self.http_connect_timeout, self.http_read_timeout):
            raise _fail(
                _env("http_total_timeout"),
                "must not be below WATCHPOST_HTTP_CONNECT_TIMEOUT or WATCHPOST_HTTP_READ_TIMEOUT",
            )
        return self

    @property
    def default_interval(self) -> timedelta:
        """The poll interval of a source that names none."""
        return timedelta(seconds=self.default_interval_seconds)

    def describe(self) -> dict[str, str]:
        """Every setting by its environment variable, for display: secrets only "set"/"unset"."""
        out: dict[str, str] = {}
        for name, field in type(self).model_fields.items():
            value = getattr(self, name)
            if field.annotation == SecretStr | None:
                shown = "unset" if value is None or not value.get_secret_value() else "set"
            elif name.endswith("_url"):
                shown = _redact_url(value)
            else:
                shown = str(value)
            out[_env_name(name, field)] = shown
        return out

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        # SecretStr hides itself; URLs may carry a password (postgresql://user:pw@host/db).
        for name, value in super().__repr_args__():
            if name is not None and name.endswith("_url") and isinstance(value, str):
                yield name, _redact_url(value)
            else:
                yield name, value


def _env_name(name: str, field: FieldInfo) -> str:
    alias = field.validation_alias
    return alias if isinstance(alias, str) else _env(name)


def _env_names() -> dict[str, str]:
    """Field name → environment variable, for every setting."""
    return {name: _env_name(name, f) for name, f in Settings.model_fields.items()}


def _read_environment(
    env: Mapping[str, str], skip: frozenset[str] = frozenset()
) -> tuple[dict[str, str], list[ConfigProblem]]:
    """Values by variable name from ``env`` and secret files, and the problems found reading."""
    values: dict[str, str] = {}
    problems: list[ConfigProblem] = []
    for var in _env_names().values():
        if var in skip:
            continue
        value = env.get(var, "")
        if var in _SECRET_ENV:
            value = value.strip()
            file_var = var + "_FILE"
            file_name = env.get(file_var, "").strip()
            if file_name and value:
                problems.append(
                    ConfigProblem(ENVIRONMENT, None, file_var, f"set either {var} or {file_var}")
                )
                continue
            if file_name:
                try:
                    with open(file_name, encoding="utf-8") as f:
                        value = f.read().strip()
                except (OSError, UnicodeDecodeError) as exc:
                    reason = getattr(exc, "strerror", None) or type(exc).__name__
                    problems.append(
                        ConfigProblem(
                            ENVIRONMENT, None, file_var, f"cannot read {file_name!r}: {reason}"
                        )
                    )
                    continue
                if not value:
                    problems.append(
                        ConfigProblem(ENVIRONMENT, None, file_var, f"{file_name!r} is empty")
                    )
                    continue
        if value != "":
            values[var] = value
    return values, problems


class _EnvironmentSource(PydanticBaseSettingsSource):
    """Reads ``os.environ`` and secret files for the settings the constructor was not given."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        """Unused: ``__call__`` reads every field at once."""
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        """Values by variable name.

        Raises:
            ConfigError: a secret file cannot be read, or a secret is set twice.
        """
        given = set(self.current_state)
        skip = frozenset(var for name, var in _env_names().items() if name in given or var in given)
        values, problems = _read_environment(os.environ, skip)
        if problems:
            raise ConfigError(problems)
        return values


_MESSAGES = {
    "greater_than_equal": "must be at least {ge}",
    "greater_than": "must be more than {gt}",
    "less_than_equal": "must be at most {le}",
    "less_than": "must be less than {lt}",
    "int_parsing": "expected a whole number",
    "float_parsing": "expected a number",
    "finite_number": "expected a finite number",
    "literal_error": "must be {expected}",
}


def _problems_of(exc: ValidationError) -> list[ConfigProblem]:
    names = _env_names()
    secrets = {names["telegram_bot_token"], names["x_bearer_token"]}
    problems = []
    for error in exc.errors(include_url=False):
        loc = error["loc"]
        ctx = error.get("ctx", {})
        var = str(loc[0]) if loc else str(ctx.get("field", ""))
        var = names.get(var, var)
        template = _MESSAGES.get(error["type"])
        # Limits are floats inside: "must be at most 1", not "1.0".
        shown_ctx = {k: f"{v:g}" if isinstance(v, float) else v for k, v in ctx.items()}
        message = template.format(**shown_ctx) if template else error["msg"]
        shown = error["input"]
        if var not in secrets and error["type"] != "settings" and isinstance(shown, str):
            message += f" (got {_redact_url(shown) if var.endswith('_URL') else shown!r})"
        problems.append(ConfigProblem(ENVIRONMENT, None, var, message))
    return problems


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Settings from ``env`` (default: ``os.environ``) and the secret files it names.

    Raises:
        ConfigError: every bad value, each naming its environment variable (path "environment").
    """
    values, problems = _read_environment(os.environ if env is None else env)
    # Every setting is given here, so the environment source reads nothing more: ``env`` alone
    # decides, even when it is not os.environ.
    given: dict[str, Any] = {
        var: values.get(var, Settings.model_fields[name].default)
        for name, var in _env_names().items()
    }
    try:
        settings = Settings(**given)
    except ValidationError as exc:
        raise ConfigError([*problems, *_problems_of(exc)]) from None
    if problems:
        raise ConfigError(problems)
    return settings
