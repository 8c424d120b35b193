"""Text helpers: HTML to text, whitespace, canonical URLs, content hashes, folding. No I/O."""

from __future__ import annotations

import hashlib
import html
import re
import unicodedata
from html.parser import HTMLParser
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

__all__ = [
    "canonical_url",
    "content_hash",
    "fold",
    "fold_whitespace",
    "fold_with_offsets",
    "html_to_text",
]

_WS = re.compile(r"\s+")
# Tags after which a reader expects a break between words.
_BLOCK_TAGS = frozenset(
    [
        "address",
        "article",
        "aside",
        "blockquote",
        "br",
        "dd",
        "div",
        "dl",
        "dt",
        "figcaption",
        "figure",
        "footer",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "header",
        "hr",
        "li",
        "main",
        "nav",
        "ol",
        "p",
        "pre",
        "section",
        "table",
        "td",
        "th",
        "tr",
        "ul",
    ]
)
_SKIP_TAGS = frozenset({"script", "style", "template", "noscript", "head", "title"})
# Query parameters that track the reader, not identify the page.
_TRACKING_PARAMS = frozenset(
    {"fbclid", "gclid", "yclid", "mc_cid", "mc_eid", "igshid", "ref_src", "ref_url", "s"}
)


def fold_whitespace(text: str) -> str:
    """Collapse every run of whitespace to one space and strip the ends."""
    return _WS.sub(" ", text).strip()


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP_TAGS:
            self._skip += 1
        elif tag in _BLOCK_TAGS:
            self.parts.append(" ")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _BLOCK_TAGS:
            self.parts.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP_TAGS:
            self._skip = max(0, self._skip - 1)
        elif tag in _BLOCK_TAGS:
            self.parts.append(" ")

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def html_to_text(markup: str) -> str:
    """Plain text of an HTML fragment: tags dropped, entities decoded, whitespace folded.

    Text that merely contains "<" (not markup) survives: the parser keeps what is not a tag.
    """
    if "<" not in markup and "&" not in markup:
        return fold_whitespace(markup)
    parser = _TextExtractor()
    try:
        parser.feed(markup)
        parser.close()
    except AssertionError:  # html.parser's rare internal assertion on broken markup
        return fold_whitespace(html.unescape(re.sub(r"<[^>]*>", " ", markup)))
    return fold_whitespace("".join(parser.parts))


def canonical_url(url: str) -> str:
    """A URL reduced to what identifies the page, so that two spellings of one link compare equal.

    Lower-cases scheme and host, drops the default port, the fragment, ``utm_*`` and other
    tracking parameters, sorts the rest of the query, and drops a trailing slash on the path.
    http and https are one page.
    """
    try:
        parts = urlsplit(url.strip())
        host = (parts.hostname or "").lower()
        port = parts.port
    except ValueError:
        return url.strip()
    if not host:
        return url.strip()
    if host.startswith("www."):
        host = host[4:]
    netloc = host if port in (None, 80, 443) else f"{host}:{port}"
    query = sorted(
        (k, v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
        if not k.lower().startswith("utm_") and k.lower() not in _TRACKING_PARAMS
    )
    path = parts.path.rstrip("/") or "/"
    return urlunsplit(("https", netloc, path, urlencode(query), ""))


def content_hash(*parts: str) -> str:
    """A stable hex digest of the given strings (version-prefixed, so the scheme can change)."""
    h = hashlib.sha256(b"v1")
    for p in parts:
        h.update(b"\x00")
        h.update(p.encode("utf-8", "surrogatepass"))
    return h.hexdigest()


# --- folding for topic matching -------------------------------------------------------------
#
# Both sides (terms and statements) are folded the same way, so what matters is that the fold is
# deterministic and idempotent. Decisions:
# - NFC per grapheme-ish cluster, then per character: NFKC, casefold, Latin letters lose their
#   diacritics (ğ→g, ç→c, é→e), leftover combining marks are dropped.
# - Turkish/Azerbaijani: "İ", "I", "ı" and "i" all fold to "i" (so KARABAĞ, Karabağ, karabag
#   meet); Azerbaijani "ə" folds to "e" (Azərbaycan = Azerbaycan).
# - Cyrillic keeps its letters ("й" stays "й"), except "ё", which folds to "е" as Russian writers
#   use the two interchangeably. Armenian keeps its letters ("և" becomes "եւ" by NFKC).
# - Apostrophe variants fold to "'", hyphen variants (including the Armenian hyphen and en dash)
#   to "-"; zero-width characters, soft hyphens and bidi controls are dropped.

_EXTRA_LATIN = {
    "ı": "i",
    "ə": "e",
    "ø": "o",
    "ł": "l",
    "đ": "d",
    "ħ": "h",
    "ŧ": "t",
    "æ": "ae",
    "œ": "oe",
    "ё": "е",
}
_APOSTROPHES = "'’‘‛ʼʻʹʽ`´′＇"
_HYPHENS = "-‐‑‒–−﹣－֊⁃"
_DROPPED = frozenset(
    "\u00ad\u180e\u200b\u200c\u200d\u2060\ufeff\u200e\u200f\u061c"
    "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)


def _fold_once(s: str) -> str:
    out: list[str] = []
    for c in unicodedata.normalize("NFKC", s).casefold():
        if c in _DROPPED:
            continue
        if c in _EXTRA_LATIN:
            out.append(_EXTRA_LATIN[c])
        elif c in _APOSTROPHES:
            out.append("'")
        elif c in _HYPHENS:
            out.append("-")
        elif unicodedata.category(c) in ("Mn", "Me"):
            continue
        elif c > "\x7f" and unicodedata.name(c, "").startswith("LATIN "):
            base = unicodedata.normalize("NFD", c)
            out.append("".join(ch for ch in base if not unicodedata.combining(ch)))
        else:
            out.append(c)
    return "".join(out)


class _FoldTable(dict[int, str]):
    """str.translate table computed on first use of each character."""

    def __missing__(self, key: int) -> str:
        prev = chr(key)
        out = _fold_once(prev)
        while out != prev:  # settle, so that folding is idempotent
            prev, out = out, _fold_once(out)
        self[key] = out
        return out


_FOLD_TABLE = _FoldTable()
# One base character with the combining marks that follow it (the common mark blocks).
_CLUSTER = re.compile(
    r".[\u0300-\u036f\u0483-\u0489\u0591-\u05c7\u064b-\u065f\u0670"
    r"\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]*",
    re.DOTALL,
)


def fold(s: str) -> str:
    """`s` folded for matching: case, accents, apostrophes, hyphens and invisibles evened out.

    Idempotent; `fold_with_offsets` gives the same string with a map back to `s`.
    """
    if s.isascii():  # the common case, ten times faster than translate
        return s.lower().replace("`", "'")
    if unicodedata.is_normalized("NFC", s):
        return s.translate(_FOLD_TABLE)
    return "".join(
        unicodedata.normalize("NFC", m.group()).translate(_FOLD_TABLE) for m in _CLUSTER.finditer(s)
    )


def fold_with_offsets(s: str) -> tuple[str, list[int], list[int]]:
    """`fold(s)` with, for each folded character, where its source starts and ends in `s`.

    Returns ``(folded, starts, ends)``: ``folded[j]`` comes from ``s[starts[j]:ends[j]]``, so a
    folded span ``[a, b)`` is ``s[starts[a]:ends[b - 1]]``. Both lists are non-decreasing.
    """
    parts: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    if unicodedata.is_normalized("NFC", s):
        for i, c in enumerate(s):
            out = _FOLD_TABLE[ord(c)]
            if out:
                parts.append(out)
                starts.extend([i] * len(out))
                ends.extend([i + 1] * len(out))
    else:
        for m in _CLUSTER.finditer(s):
            out = unicodedata.normalize("NFC", m.group()).translate(_FOLD_TABLE)
            if out:
                parts.append(out)
                starts.extend([m.start()] * len(out))
                ends.extend([m.end()] * len(out))
    return "".join(parts), starts, ends
