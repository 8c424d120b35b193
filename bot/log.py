"""Logging setup: one key=value line per outcome, secrets redacted, noisy libraries quietened."""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Iterable
from datetime import UTC, datetime

from bot.redact import redact_text

__all__ = ["RedactSecrets", "setup_logging"]


class RedactSecrets(logging.Filter):
    """Replaces every known secret value, and every credential written in a URL (issue 11), in
    a record's final message with "***"."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self._secrets = tuple(s for s in secrets if s and len(s) >= 4)

    def _redact(self, text: str) -> str:
        for s in self._secrets:
            text = text.replace(s, "***")
        return redact_text(text)

    def filter(self, record: logging.LogRecord) -> bool:
        msg = record.getMessage()
        text = self._redact(msg)
        if record.exc_info and record.exc_info[1] is not None:
            # Tracebacks are formatted later from exc_info; format now so they can be redacted.
            formatted = logging.Formatter().formatException(record.exc_info)
            text = f"{text}\n{self._redact(formatted)}"
            record.exc_info = None
            record.exc_text = None
        if text != msg or record.args:
            record.msg, record.args = text, None
        return True


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False)


def setup_logging(level: str = "INFO", fmt: str = "text", secrets: Iterable[str] = ()) -> None:
    """Configure the root logger on stderr. Idempotent: a second call replaces the handler."""
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(_JsonFormatter())
    else:
        formatter = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
        formatter.converter = _utc_converter
        handler.setFormatter(formatter)
    handler.addFilter(RedactSecrets(secrets))
    root = logging.getLogger()
    for old in list(root.handlers):
        if getattr(old, "_watchpost", False):
            root.removeHandler(old)
    handler._watchpost = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level.upper())
    # httpx logs every request URL at INFO, and a Bot API URL carries the token.
    for name in ("httpx", "httpcore", "telegram", "hpack", "alembic"):
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))
    # A tick skipped because the last one still runs is by design (coalesce), not news.
    logging.getLogger("apscheduler").setLevel(max(logging.ERROR, root.level))


def _utc_converter(secs: float | None) -> time.struct_time:
    return datetime.fromtimestamp(secs or 0.0, UTC).timetuple()
