"""Credentials written in URLs, hidden before anything is shown. No I/O.

Issue 11: feed URLs such as ``https://user:password@host/feed`` or ``…/rss?api_key=…`` were
printed in error logs and by `watchpost sources`. Everything that shows a URL, or a text that
may contain one (a log line, an error message), passes it through here.
"""

from __future__ import annotations

import re

__all__ = ["MASK", "redact_text", "redact_url"]

MASK = "***"

# user:password@ (or a lone token@) right after a scheme's "//"
_USERINFO = re.compile(r"(?<=//)[^/?#@\s]+@")
# a query or fragment parameter, name=value
_PARAM = re.compile(r"(?<=[?&;#])([\w.-]+)=([^&;#\s]+)")
# parameter names that say they hold a credential (api_key, apikey, x-api-key, access_token…)
_SECRET_NAME = re.compile(
    r"(?i)(?:[\w.-]*[_.-])?(?:api_?key|key|apikey|token|access_?token|secret|client_?secret"
    r"|passw(?:or)?d|pass|pwd|auth|authorization|sig|signature|session(?:_?id)?"
    r"|credentials?)"
)


def redact_url(url: str) -> str:
    """`url` with its user information and credential-like parameters replaced by ``***``."""
    return redact_text(url)


def redact_text(text: str) -> str:
    """`text` with every URL credential in it replaced by ``***`` (the rest unchanged)."""
    text = _USERINFO.sub(MASK + "@", text)
    return _PARAM.sub(_mask_param, text)


def _mask_param(m: re.Match[str]) -> str:
    name = m.group(1)
    return f"{name}={MASK}" if _SECRET_NAME.fullmatch(name) else m.group(0)
