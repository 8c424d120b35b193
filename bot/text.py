"""Text helpers: HTML to text, whitespace, URLs, hashes, folding, links, transliteration. No I/O.

The folding, link-blanking and transliteration parts serve topic matching (`bot.matching`) and
near-duplicate fingerprints (`bot.dedup`); their decisions are written where they are defined.
"""

from __future__ import annotations

import functools
import hashlib
import html
import itertools
import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from html.parser import HTMLParser
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

__all__ = [
    "LINK_FILL",
    "blank_links",
    "canonical_url",
    "content_hash",
    "display_text",
    "fold",
    "fold_lines",
    "fold_whitespace",
    "fold_with_offsets",
    "html_to_text",
    "lookalike_skeleton",
    "transliterations",
]

_WS = re.compile(r"\s+")
# `html_to_text` with a limit reads markup over this many times the limit in chunks of _CHUNK
_WHOLE = 4
_CHUNK = 65_536
# stands for a break from a tag while the text is folded in one pass (never in markup's data:
# NUL is not allowed in XML, and a character reference to it decodes to U+FFFD)
_BREAK = "\x00"
# What each tag means for the text around it. Paragraph tags end a paragraph; line tags start
# a new line; cells are words apart. Issue 7: folding all of them to a space turned a
# 12-paragraph statement into one block.
_PARAGRAPH = "\n\n"
_LINE = "\n"
_PARAGRAPH_TAGS = frozenset(
    [
        "address",
        "article",
        "aside",
        "blockquote",
        "div",
        "dl",
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
        "main",
        "nav",
        "ol",
        "p",
        "pre",
        "section",
        "table",
        "ul",
    ]
)
# Only their start breaks the line: "<li>a</li><li>b</li>" is two lines, not two paragraphs.
_LINE_TAGS = frozenset(["dd", "dt", "li", "tr"])
_CELL_TAGS = frozenset(["td", "th"])
_SKIP_TAGS = frozenset({"script", "style", "template", "noscript", "head", "title"})
# Query parameters that track the reader, not identify the page.
_TRACKING_PARAMS = frozenset(
    {"fbclid", "gclid", "yclid", "mc_cid", "mc_eid", "igshid", "ref_src", "ref_url", "s"}
)


def fold_whitespace(text: str, *, paragraphs: bool = False) -> str:
    """Collapse every run of whitespace to one space and strip the ends.

    With `paragraphs`, plain text keeps its paragraphs: a run of whitespace that holds a blank
    line becomes exactly one blank line ("\\n\\n"); single line breaks are folded like spaces
    (hard-wrapped lines are one paragraph).
    """
    if not paragraphs:
        # str.split() splits where the regex \s does (both are str.isspace), a third the time
        return " ".join(text.split())
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\u2029", "\n\n")
    # Line by line, not one regex over the text: a regex for "whitespace holding two line
    # breaks" backtracks quadratically over a long run of spaces, which a feed can send.
    paras: list[str] = []
    lines: list[str] = []
    for line in text.split(_LINE):
        if line and not line.isspace():
            lines.append(line)
        elif lines:
            paras.append(" ".join(" ".join(lines).split()))
            lines = []
    if lines:
        paras.append(" ".join(" ".join(lines).split()))
    return _PARAGRAPH.join(paras)


class _TextExtractor(HTMLParser):
    """Text of HTML with its breaks: data with whitespace folded, "\\n" only from tags."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.tags = 0
        #: characters of text other than whitespace read so far, when `counting`
        self.text_chars = 0
        self.counting = False
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags += 1
        if tag in _SKIP_TAGS:
            self._skip += 1
        else:
            self._break(tag, start=True)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags += 1
        self._break(tag, start=True)

    def handle_endtag(self, tag: str) -> None:
        self.tags += 1
        if tag in _SKIP_TAGS:
            self._skip = max(0, self._skip - 1)
        else:
            self._break(tag, start=False)

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)
            if self.counting:  # only for huge markup: it costs a regex pass per part
                self.text_chars += len(_WS.sub("", data))

    def _break(self, tag: str, *, start: bool) -> None:
        brk = _tag_break(tag, start=start)
        if brk:
            self.parts.append(brk)


def _tag_break(tag: str, *, start: bool) -> str:
    """What a start or end tag puts in the text: a line or paragraph break, a space, or nothing."""
    if tag == "br" or (start and tag in _LINE_TAGS):
        return _LINE
    if tag in _PARAGRAPH_TAGS:
        return _PARAGRAPH
    if tag in _CELL_TAGS or tag in _LINE_TAGS:
        return " "
    return ""


# Issue 9: html.parser, in Python, took half the time of html_to_text on a feed item's HTML. The
# plain HTML feeds mostly send (known tags, attributes quoted or of plain characters, entities in
# the text) is read by one regex split instead: `_simple_parts`. Anything else, or anything it is
# not sure html.parser reads the same way (comments, script, a "<" in the text, an attribute
# written oddly), goes to html.parser as before; tests/unit/test_text_html.py proves the two
# equal on generated markup and on the corpus.
#
# Whitespace as html.parser's tag-name rule ends a name (not the other Unicode spaces).
_TAG_SPACE = "[ \t\n\r\f]"
_SIMPLE_TAG = re.compile(
    # "/" of an end tag (group 1), the name (group 2), attributes (group 3), "/" of "/>" (group 4)
    rf"<(/?)([A-Za-z][A-Za-z0-9]*)"
    rf"((?:{_TAG_SPACE}+[A-Za-z_:][-A-Za-z0-9_:.]*"
    rf"(?:{_TAG_SPACE}*={_TAG_SPACE}*"
    rf"(?:\"[^\"<>]*\"|'[^'<>]*'|[^\s\"'=<>`/]+(?={_TAG_SPACE}|>)))?)*)"
    rf"{_TAG_SPACE}*(/?)>"
)
# Tags that no version of html.parser reads in a mode of its own (script, style, title,
# textarea, ...: their content is not markup), by what they put in the text.
_INLINE_TAGS = frozenset(
    {
        "a", "abbr", "b", "big", "br", "caption", "cite", "code", "del", "em", "font", "i",
        "img", "ins", "mark", "q", "s", "small", "span", "strike", "strong", "sub", "sup",
        "tbody", "tfoot", "thead", "time", "u", "wbr",
    }
)  # fmt: skip
_SIMPLE_TAG_BREAKS = {
    tag: (_tag_break(tag, start=True), _tag_break(tag, start=False))
    for tag in _PARAGRAPH_TAGS | _LINE_TAGS | _CELL_TAGS | _INLINE_TAGS
}


def _simple_parts(markup: str) -> tuple[list[str], int] | None:
    """What `_TextExtractor` reads from `markup` (its parts and how many tags), when the markup
    is plain HTML of known tags; None otherwise, and html.parser must read it.

    html.parser hands the text between two tags to handle_data in one piece, its entities
    decoded (html.unescape), and none if it is empty; each tag's name lowercased.
    """
    pieces = _SIMPLE_TAG.split(markup)
    # text, then per tag: end, name, attributes, self-closing, the text after it
    parts: list[str] = []
    if "<" in pieces[0]:
        return None
    if pieces[0]:
        parts.append(html.unescape(pieces[0]))
    for i in range(1, len(pieces), 5):
        end, name, attributes, closed, text = pieces[i : i + 5]
        breaks = _SIMPLE_TAG_BREAKS.get(name.lower())
        if breaks is None or "<" in text or (end and (attributes or closed)):
            return None
        brk = breaks[1] if end else breaks[0]  # "<p/>" is a start tag to _TextExtractor
        if brk:
            parts.append(brk)
        if text:
            parts.append(html.unescape(text))
    return parts, len(pieces) // 5


def fold_lines(text: str) -> str:
    """Collapse whitespace within each line and keep the line breaks, with at most one blank
    line in a row (a paragraph break); the ends stripped. Idempotent."""
    return _join_lines(text.replace("\r\n", "\n").replace("\r", "\n").split(_LINE))


def _join_lines(lines: Iterable[str]) -> str:
    """`lines` with whitespace folded in each, joined by a line break, or by one blank line where
    blank lines came between them; blank lines at the ends dropped."""
    out: list[str] = []
    blank = False
    # str.split() and join, not a regex substitution: a regex for whitespace other than "\n"
    # took four times as long (issue 9: 60 µs of a 1 KB text's 0.4 ms of parsing).
    for line in lines:
        words = line.split()
        if not words:
            blank = True
            continue
        if out:
            out.append(_PARAGRAPH if blank else _LINE)
        out.append(" ".join(words))
        blank = False
    return "".join(out)


def html_to_text(markup: str, *, paragraphs: bool = False, limit: int | None = None) -> str:
    """Plain text of an HTML fragment: tags dropped, entities decoded, whitespace folded.

    Text that merely contains "<" (not markup) survives: the parser keeps what is not a tag.

    With `paragraphs` (issue 7), the text keeps the shape a reader sees: paragraph tags (p, div,
    headings, lists, blockquote…) give a blank line, ``<br>``, list items and table rows a line
    break; never more than one blank line in a row. Markup with no tag at all is plain text
    whose entities are escaped (RSS descriptions often are): its own blank lines are its
    paragraphs, as in `fold_whitespace`.

    With `limit`, markup of more than `_WHOLE` times `limit` characters is read in chunks only
    until its text holds more than `limit` characters besides whitespace: the caller cuts the
    text there anyway, and a 9 MB item read whole took 140 MB (issue 11). The text is then
    longer than `limit`, so the cut is seen and said (`bot.sources.bounds`).
    """
    if "<" not in markup and "&" not in markup:
        return fold_whitespace(markup, paragraphs=paragraphs)
    whole = limit is None or len(markup) <= _WHOLE * limit
    read = _simple_parts(markup) if whole else None
    if read is None:
        parser = _TextExtractor()
        try:
            if limit is None or whole:
                parser.feed(markup)
            else:
                parser.counting = True
                for start in range(0, len(markup), _CHUNK):
                    parser.feed(markup[start : start + _CHUNK])
                    if parser.text_chars > limit:
                        break
            parser.close()
        except AssertionError:  # html.parser's rare internal assertion on broken markup
            return fold_whitespace(html.unescape(re.sub(r"<[^>]*>", " ", markup)))
        read = parser.parts, parser.tags
    parts, tags = read
    if not paragraphs:
        return fold_whitespace("".join(parts))
    if not tags:
        return fold_whitespace("".join(parts), paragraphs=True)
    # In HTML, whitespace in the data is a space whatever it is; only tags break lines.
    if _BREAK in markup:
        return fold_lines(
            "".join(p if p in (_LINE, _PARAGRAPH) else _WS.sub(" ", p) for p in parts)
        )
    # The same in one pass (issue 9: one per part cost a third of parsing a feed): every
    # whitespace character of the data is a space, so only the tags' breaks split lines.
    marked = "".join(_BREAK if p == _LINE else _BREAK * 2 if p == _PARAGRAPH else p for p in parts)
    return _join_lines(marked.split(_BREAK))


# --- text for display -----------------------------------------------------------------------
#
# Issue 7: alerts never carry bidi controls or zero-width characters into Telegram (U+202E
# reverses the rest of the line in clients, and hides or disguises what a statement says); the
# stored statement keeps them, as evidence. Decisions:
# - Always dropped: the bidi embeddings, overrides and isolates (U+202A-U+202E,
#   U+2066-U+2069), the marks U+200E, U+200F and U+061C, the deprecated format controls
#   U+206A-U+206F, and the zero-width space, word joiner and no-break space (U+200B, U+2060,
#   U+FEFF).
# - Kept where they are spelling: the zero-width non-joiner (U+200C) and joiner (U+200D)
#   between two letters of a script that joins or forms conjuncts (Persian "می‌خواهم" needs its
#   ZWNJ; Arabic, Syriac, the Indic scripts, Mongolian), and the joiner inside an emoji
#   sequence (👩‍⚕️, 🏳️‍🌈). Anywhere else (inside a Latin or Cyrillic word, at an edge) they only
#   hide things, and are dropped.

_ALWAYS_INVISIBLE = frozenset(
    "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c"
    "\u206a\u206b\u206c\u206d\u206e\u206f\u200b\u2060\ufeff"
)
_ZWNJ, _ZWJ = "\u200c", "\u200d"
_JOINING_SCRIPTS = (
    "ARABIC",
    "SYRIAC",
    "NKO",
    "THAANA",
    "MONGOLIAN",
    "DEVANAGARI",
    "BENGALI",
    "GURMUKHI",
    "GUJARATI",
    "ORIYA",
    "TAMIL",
    "TELUGU",
    "KANNADA",
    "MALAYALAM",
    "SINHALA",
)
# Joined to the emoji before them without being one: variation selector 16, skin tones.
_EMOJI_TRAIL = re.compile("[\ufe0f\U0001f3fb-\U0001f3ff]+$")


@functools.lru_cache(maxsize=4096)
def _joining_letter(c: str) -> bool:
    return unicodedata.category(c)[0] in "LM" and unicodedata.name(c, "").startswith(
        _JOINING_SCRIPTS
    )


def _emoji(c: str) -> bool:
    return unicodedata.category(c) == "So" and (c >= "\U0001f000" or "\u2190" <= c <= "\u2bff")


def _joiner_kept(s: str, i: int) -> bool:
    before, after = s[max(0, i - 8) : i], s[i + 1 : i + 2]
    if not before or not after:
        return False
    if _joining_letter(before[-1]) and _joining_letter(after):
        return True
    if s[i] == _ZWJ:
        base = _EMOJI_TRAIL.sub("", before)
        return bool(base) and _emoji(base[-1]) and _emoji(after)
    return False


def display_text(s: str) -> tuple[str, list[int]]:
    """`s` as alerts show it, without invisible controls (see above), and where each offset
    of `s` lands in it: ``shown[i]`` is the offset in the result of ``s[i]`` (or of what
    follows it, if dropped); ``shown[len(s)]`` is the result's length. No I/O."""
    out: list[str] = []
    shown: list[int] = []
    for i, c in enumerate(s):
        shown.append(len(out))
        if c in _ALWAYS_INVISIBLE:
            continue
        if c in (_ZWNJ, _ZWJ) and not _joiner_kept(s, i):
            continue
        out.append(c)
    shown.append(len(out))
    return "".join(out), shown


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
#   use the two interchangeably. Armenian keeps its letters ("և" becomes "եւ" by NFKC); the
#   Armenian stress, exclamation and question marks, written inside a word ("Ո՞վ"), are dropped
#   so they do not split it, and the Armenian apostrophe is an apostrophe.
# - Apostrophe variants fold to "'", hyphen variants (including the Armenian hyphen and en dash)
#   to "-"; zero-width characters, soft hyphens and bidi controls are dropped.
# - Look-alike letters (issue 4): in a word that mixes Latin, Cyrillic, Greek or Armenian
#   letters, the letters of the other scripts that have a look-alike in the word's main script
#   become that look-alike ("кaрабах" with a Latin "a" is "карабах"; "Karabаkh" with a Cyrillic
#   "а" is "karabakh"). The main script is the one with most letters that have no look-alike,
#   then with most letters, then Latin, Cyrillic, Greek, Armenian in that order. Words written
#   in one script are never touched, so "Qarabağ" next to "Карабах" stays as it is.

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
_APOSTROPHES = "'’‘‛ʼʻʹʽ`´′＇\u055a"
_HYPHENS = "-‐‑‒–−﹣－֊⁃"
_DROPPED = frozenset(
    "\u00ad\u180e\u200b\u200c\u200d\u2060\ufeff\u200e\u200f\u061c"
    "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
    "\u055b\u055c\u055e\u055f"
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


class _LengthTable(dict[int, str]):
    """str.translate table: each character to chr(len(its fold)), computed on first use."""

    def __missing__(self, key: int) -> str:
        out = chr(len(_FOLD_TABLE[key]))
        self[key] = out
        return out


_LENGTH_TABLE = _LengthTable()
# One base character with the combining marks that follow it (the common mark blocks).
_CLUSTER = re.compile(
    r".[\u0300-\u036f\u0483-\u0489\u0591-\u05c7\u064b-\u065f\u0670"
    r"\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]*",
    re.DOTALL,
)


def _unsafe_pattern() -> re.Pattern[str]:
    """Characters a casefolded text may not hold for `casefold` alone to be its fold.

    The safe ones are computed, not listed: ASCII, Russian Cyrillic and Armenian letters and
    common punctuation that casefolding and the table both leave as they are.
    """
    candidates = (
        *range(0x80),
        *range(0x400, 0x460),
        *range(0x531, 0x590),
        0xAB,
        0xBB,
        0x2014,
        0x201C,
        0x201D,
        0x201E,
        0x2022,
    )
    safe = [
        chr(i)
        for i in candidates
        if chr(i).casefold() == chr(i)
        and unicodedata.normalize("NFKC", chr(i)) == chr(i)
        and _FOLD_TABLE[i] == chr(i)
    ]
    return re.compile("[^" + "".join(re.escape(c) for c in safe) + "]")


_UNSAFE = _unsafe_pattern()


def _casefold_is_fold(s: str) -> str | None:
    """`s.casefold()` when that is already the fold of `s` (most Russian and Armenian text)."""
    if not unicodedata.is_normalized("NFKC", s):
        return None
    folded = s.casefold()
    return None if _UNSAFE.search(folded) else folded


# Look-alike letters: one row per shape, its letter in Latin, Cyrillic, Greek, Armenian ("": none).
_LOOKALIKE_ROWS = (
    "aаα",
    "bвβ",
    "cс",
    "eеε",
    "hнηհ",
    "iіι",
    "jј",
    "kкκ",
    "mмμ",
    "n",
    "oоοօ",
    "pрρ",
    "qԛ",
    "sѕ",
    "tтτ",
    "u",
    "wԝ",
    "xхχ",
    "yуυ",
)
# Shapes with letters on only some scripts, and more letters of one shape in a script: (row, char).
_LOOKALIKE_EXTRA = (("e", "ә"), ("i", "ӏ"), ("h", "һ"), ("n", "ո"), ("u", "ս"), ("q", "զ"))
_LATIN, _CYRILLIC, _GREEK, _ARMENIAN = 1, 2, 3, 4


def _script(c: str) -> int:
    o = ord(c)
    if o < 0x2B0:
        return _LATIN if c.isalpha() else 0
    if 0x400 <= o < 0x530:
        return _CYRILLIC
    if 0x370 <= o < 0x400:
        return _GREEK
    if 0x531 <= o < 0x590:
        return _ARMENIAN
    return 0


def _lookalike_table() -> dict[str, tuple[str, str, str, str]]:
    """Each look-alike letter with its look-alike in Latin, Cyrillic, Greek and Armenian."""
    rows: dict[str, list[str]] = {}
    for row in _LOOKALIKE_ROWS:
        targets = ["", "", "", ""]
        for c in row:
            targets[_script(c) - 1] = c
        rows[row[0]] = targets
    for key, c in _LOOKALIKE_EXTRA:
        slot = _script(c) - 1
        rows[key][slot] = rows[key][slot] or c
    table: dict[str, tuple[str, str, str, str]] = {}
    for row in _LOOKALIKE_ROWS:
        for c in row:
            table[c] = tuple(rows[row[0]])  # type: ignore[assignment]
    for key, c in _LOOKALIKE_EXTRA:
        table[c] = tuple(rows[key])  # type: ignore[assignment]
    return table


_LOOKALIKE = _lookalike_table()
_LETTERS = {
    _LATIN: "a-z\u00df-\u02af",
    _CYRILLIC: "\u0400-\u052f",
    _GREEK: "\u0370-\u03ff",
    _ARMENIAN: "\u0531-\u058f",
}
# Two letters of different scripts side by side: the only way a word can mix scripts.
_MIXED = re.compile(
    "|".join(
        f"[{_LETTERS[a]}](?=[{''.join(_LETTERS[b] for b in _LETTERS if b != a)}])" for a in _LETTERS
    )
)
# The same, for Latin against the others only, each led by the rarer side so that the regex
# engine skips ahead over the common one; run on the text and on the text reversed.
_NON_LATIN = _LETTERS[_GREEK] + _LETTERS[_CYRILLIC] + _LETTERS[_ARMENIAN]
_LATIN_LEADS = re.compile(f"[{_LETTERS[_LATIN]}](?=[{_NON_LATIN}])")
_OTHER_LEADS = re.compile(f"[{_NON_LATIN}](?=[{_LETTERS[_LATIN]}])")
_WORD_CHARS = re.compile(r"[^\W_]+")


def _unmix_word(m: re.Match[str]) -> str:
    word = m.group()
    if _MIXED.search(word) is None:
        return word
    counts: dict[int, list[int]] = {}
    for c in word:
        script = _script(c)
        if script:
            count = counts.setdefault(script, [0, 0])
            count[0] += c not in _LOOKALIKE
            count[1] += 1
    main = max(counts, key=lambda sc: (counts[sc][0], counts[sc][1], -sc))
    out = []
    for c in word:
        target = _LOOKALIKE.get(c)
        out.append(target[main - 1] or c if target is not None and _script(c) != main else c)
    return "".join(out)


def _unmix(folded: str) -> str:
    """`folded` with look-alike letters of other scripts inside a word made the word's own."""
    # Non-Latin letters take two bytes in UTF-8, Latin ones (folded) one: lead with the rarer.
    leads = (
        _LATIN_LEADS
        if len(folded.encode("utf-8", "surrogatepass")) > 1.5 * len(folded)
        else _OTHER_LEADS
    )
    if leads.search(folded) is None and leads.search(folded[::-1]) is None:
        return folded
    return _WORD_CHARS.sub(_unmix_word, folded)


def fold(s: str) -> str:
    """`s` folded for matching: case, accents, apostrophes, hyphens and invisibles evened out.

    Look-alike letters of another script inside a word become the word's own script's. Idempotent;
    `fold_with_offsets` gives the same string with a map back to `s`.
    """
    if s.isascii():  # the common case, ten times faster than translate
        return s.lower().replace("`", "'")
    folded = _casefold_is_fold(s)
    if folded is None:
        if unicodedata.is_normalized("NFC", s):
            folded = s.translate(_FOLD_TABLE)
        else:
            folded = "".join(
                unicodedata.normalize("NFC", m.group()).translate(_FOLD_TABLE)
                for m in _CLUSTER.finditer(s)
            )
    return _unmix(folded)


def fold_with_offsets(s: str) -> tuple[str, Sequence[int], Sequence[int]]:
    """`fold(s)` with, for each folded character, where its source starts and ends in `s`.

    Returns ``(folded, starts, ends)``: ``folded[j]`` comes from ``s[starts[j]:ends[j]]``, so a
    folded span ``[a, b)`` is ``s[starts[a]:ends[b - 1]]``. Both sequences are non-decreasing.
    """
    # One to one: ranges, not lists (issue 9: a list of a 1 KB text's offsets, one int object
    # each, took 30 us, and the matcher reads two offsets per term found).
    if s.isascii():
        return fold(s), range(len(s)), range(1, len(s) + 1)
    fast = _casefold_is_fold(s)
    if fast is not None and len(fast) == len(s):  # casefold never shortens: one to one
        return _unmix(fast), range(len(s)), range(1, len(s) + 1)
    nfc = unicodedata.is_normalized("NFC", s)
    if nfc:
        # How many characters each character folds to, as code points: mostly 1, 0 if dropped.
        lengths = s.translate(_LENGTH_TABLE)
        if max(lengths, default="\x00") <= "\x01":
            kept = list(itertools.compress(range(len(s)), lengths.encode("ascii")))
            return _unmix(s.translate(_FOLD_TABLE)), kept, [i + 1 for i in kept]
    parts: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    if nfc:
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
    return _unmix("".join(parts)), starts, ends


def lookalike_skeleton(s: str) -> str:
    """`s` with every look-alike letter written as its Latin look-alike, where it has one.

    For comparing texts whatever script their look-alike letters come from; not a fold.
    """
    return "".join((_LOOKALIKE[c][0] or c) if c in _LOOKALIKE else c for c in s)


# --- links, mentions, hashtags --------------------------------------------------------------
#
# Issue 4: a term must not match inside a link ("https://artsakh.am/...") or an account name
# ("@Artsakh_MFA"), which say where something is, not what it says. A hashtag is a word: its "#"
# is not a letter, so "#Karabakh" matches Karabakh, and a run-together tag ("#KarabakhIsOurs") is
# one word that only a prefix term ("Karabakh*") finds.

_LINK = re.compile(r"(?:https?://|ftp://|www\.)[^\s<>\"«»]+|@[\w.-]+")
# A host with a path and no scheme ("t.co/xyz", "mfa.am/en/news"): found from its ".tld/".
_HOST_PATH = re.compile(r"\.[a-z]{2,24}/")
_HOST_BEFORE = re.compile(r"[a-z0-9-]+(?:\.[a-z0-9-]+)*\Z")
_NOT_LINK_END = re.compile(r"[\s<>\"«»]")
LINK_FILL = "\x00"


def blank_links(s: str) -> str:
    """`s` with URLs, bare host/paths, @mentions and e-mail domains overwritten by ``LINK_FILL``.

    Same length as `s`, so offsets still hold; the fill is neither a letter nor whitespace, so
    no word and no phrase reaches into or across a link. Expects folded (lower-case) text.
    """
    if "/" not in s and "@" not in s and "www." not in s:
        return s
    spans = [m.span() for m in _LINK.finditer(s)]
    if "/" in s:
        for m in _HOST_PATH.finditer(s):
            host = _HOST_BEFORE.search(s, max(0, m.start() - 253), m.start())
            if host is None:
                continue
            end_m = _NOT_LINK_END.search(s, m.end())
            spans.append((host.start(), end_m.start() if end_m else len(s)))
    if not spans:
        return s
    out = list(s)
    for start, end in spans:
        out[start:end] = LINK_FILL * (end - start)
    return "".join(out)


# --- transliteration of names ---------------------------------------------------------------
#
# Issue 4: a topic with `transliterate: true` also matches its terms written in another script.
# Each term yields a few whole-word spellings, one per romanization scheme in use, never every
# combination of letter choices (which would grow as 3^n and match noise):
# - Russian Cyrillic → Latin: English/BGN (Карабах → karabakh, Ереван → yerevan, Запорожье →
#   zaporozhye), Azerbaijani (karabax, xankendi), Turkish (karabah, hankendi) and ISO 9 without
#   diacritics (arcah, Киев → kiev).
# - Ukrainian Cyrillic → Latin (issue 7): the national standard, KMU resolution 55 of 2010, which
#   Kyiv, Zaporizhzhia, Odesa follow (г h, ґ g, и y, і i, зг zgh; є ї й ю я are ye yi y yu ya at
#   a word's start and ie i i iu ia elsewhere; ь and the apostrophe are dropped). A word with
#   і ї є ґ or an apostrophe between letters is Ukrainian, one with ы э ё ъ is Russian; a word
#   with neither (Одеса, Херсон) is read both ways, unless the term's language says which.
# - Armenian → Latin: English/BGN (Արցախ → artsakh, Ղարաբաղ → gharabagh) and ISO 9985 without
#   diacritics (arcax); Armenian → Cyrillic as Russian writes it (Արցախ → арцах).
# - Latin → Cyrillic: English digraphs read as Russian (kiev → киев, zaporozhye → запорожье,
#   stepanakert → степанакерт), the KMU 2010 table read backwards (kyiv → київ, zaporizhzhia →
#   запоріжжя; an "i" after a vowel is ї or й, so it gives two spellings), and Azerbaijani/Turkish
#   letters (xankəndi → ханкенди, şuşa → шуша).
# - Acronyms are never transliterated (issue 7): a word of two letters or more written all in
#   capitals abbreviates words of its own language, and its letters in another script abbreviate
#   other words (АЭС, a nuclear power plant, would become AES, a US power company; США would be
#   SShA, nobody's spelling). A term with such a word gives no spellings; write the other
#   language's acronym (NPP, USA) as a term of its own.
# Results are folded afterwards like any term, so diacritics the schemes differ in do not matter.
# They are whole words: `bot.matching` does not carry a term's "*" over to them.

_VOWELS_CYR = "аеёиоуыэюяьъ"
# Per scheme: х ц ж ч ш щ й ю я ё, and е after a vowel or at a word's start.
_CYR_SCHEMES = (
    ("kh", "ts", "zh", "ch", "sh", "shch", "y", "yu", "ya", "yo", "ye"),
    ("x", "ts", "j", "c", "s", "sc", "y", "yu", "ya", "yo", "ye"),
    ("h", "ts", "j", "c", "s", "sc", "y", "yu", "ya", "yo", "ye"),
    ("h", "c", "z", "c", "s", "sc", "j", "ju", "ja", "e", "e"),
)


def _table(letters: str, spellings: str) -> dict[str, str]:
    return dict(zip(letters, spellings.split(" "), strict=True))


_CYR_COMMON = _table("абвгдзиклмнопрстуфыэъь", "a b v g d z i k l m n o p r s t u f y e  ")
# Ukrainian, KMU 2010: the letters spelled alike wherever they stand; ь is dropped.
_UK_LETTERS = _table(
    "абвгґдежзиіклмнопрстуфхцчшщь",
    "a b v h g d e zh z y i k l m n o p r s t u f kh ts ch sh shch ",
)
# є ї й ю я: at a word's start, and elsewhere.
_UK_INITIAL = {"є": "ye", "ї": "yi", "й": "y", "ю": "yu", "я": "ya"}
_UK_INSIDE = {"є": "ie", "ї": "i", "й": "i", "ю": "iu", "я": "ia"}
_UK_ONLY = frozenset("іїєґ")
_RU_ONLY = frozenset("ыэёъ")
# The Ukrainian apostrophe (Знам'янка) between two Cyrillic letters: KMU drops it.
_UK_APOSTROPHE = re.compile(f"(?<=[\u0400-\u04ff])[{re.escape(_APOSTROPHES)}](?=[\u0400-\u04ff])")

_ARM_COMMON = _table(
    "աբգդզէըթիլկհմյնպռսվտրփքօֆւ", "a b g d z e e t i l k h m y n p r s v t r p k o f v"
)
# Per scheme: ժ խ ծ ձ ղ ճ շ չ ջ ց.
_ARM_SCHEMES = (
    _table("ժխծձղճշչջց", "zh kh ts dz gh ch sh ch j ts"),
    _table("ժխծձղճշչջց", "z x c j g c s c j c"),
)
_ARM_CYR = _table(
    "աբգդզէըթժիլխծկհձղճմյնշչպջռսվտրցփքօֆւ",
    "а б г д з э е т ж и л х ц к г дз г ч м й н ш ч п дж р с в т р ц п к о ф в",
)
_LAT_DIGRAPHS = tuple(
    zip(("shch", "zh", "kh", "ts", "ch", "sh", "yu", "ya", "ye", "yo"), "щжхцчшюяеё", strict=True)
)
_LAT_VOWELS = frozenset("aeiouy")
_LAT_EN = _table(
    "abcdefghijklmnopqrstuvwxyz", "а б к д е ф г х и дж к л м н о п к р с т у в в кс й з"
)
_LAT_AZ = {**_LAT_EN, **_table("cçşğıəxjöüh", "дж ч ш г ы е х ж ё ю х")}
# KMU 2010 read backwards: digraphs first; at a word's start, then inside it.
_LAT_UK_DIGRAPHS = (
    ("shch", "щ"),
    ("zgh", "зг"),
    ("zh", "ж"),
    ("kh", "х"),
    ("ts", "ц"),
    ("ch", "ч"),
    ("sh", "ш"),
)
_LAT_UK_INITIAL = (("yi", "ї"), ("ye", "є"), ("yu", "ю"), ("ya", "я"), ("y", "й"))
_LAT_UK_INSIDE = (("ie", "є"), ("iu", "ю"), ("ia", "я"))
_LAT_UK = _table(
    "abcdefghijklmnopqrstuvwxyz", "а б ц д е ф ґ г і й к л м н о п к р с т у в в кс и з"
)
# Letters that only Azerbaijani or Turkish spellings have: such a word is read by their rules.
_AZ_TR_LETTERS = frozenset("çşğıəöüxq")


def _from_cyrillic(word: str, scheme: tuple[str, ...]) -> str:
    kh, ts, zh, ch, sh, shch, y, yu, ya, yo, ye = scheme
    special = dict(zip("хцжчшщйюяё", (kh, ts, zh, ch, sh, shch, y, yu, ya, yo), strict=True))
    out = []
    for i, c in enumerate(word):
        if c == "е":
            out.append(ye if i == 0 or word[i - 1] in _VOWELS_CYR else "e")
        elif c in special:
            out.append(special[c])
        else:
            out.append(_CYR_COMMON.get(c, c))
    return "".join(out)


def _from_ukrainian(word: str) -> str:
    """KMU 2010 (Кабмін, постанова № 55 of 27 January 2010)."""
    out = []
    for i, c in enumerate(word):
        if c in _UK_INITIAL:
            out.append((_UK_INITIAL if i == 0 else _UK_INSIDE)[c])
        elif c == "г" and i > 0 and word[i - 1] == "з":
            out.append("gh")  # зг is "zgh", so that it is not read back as ж (zh)
        else:
            out.append(_UK_LETTERS.get(c, c))
    return "".join(out)


def _from_armenian(word: str, table: dict[str, str], *, latin: bool) -> str:
    out = []
    i = 0
    while i < len(word):
        c = word[i]
        nxt = word[i + 1] if i + 1 < len(word) else ""
        if c == "ո" and nxt == "ւ":
            out.append("u" if latin else "у")
            i += 2
            continue
        if c == "ե":
            out.append(("ye" if latin else "е") if i == 0 else ("e" if latin else "е"))
        elif c == "ո":
            out.append(("vo" if latin else "во") if i == 0 else ("o" if latin else "о"))
        elif latin:
            out.append(table.get(c, _ARM_COMMON.get(c, c)))
        else:
            out.append(_ARM_CYR.get(c, c))
        i += 1
    return "".join(out)


def _from_latin(word: str, table: dict[str, str], *, digraphs: bool) -> str:
    out = []
    i = 0
    while i < len(word):
        if digraphs:
            for lat, cyr in _LAT_DIGRAPHS:
                if word.startswith(lat, i):
                    # "ye"/"yo" after a consonant is ье/ьё as BGN writes it (Zaporozhye).
                    soft = lat in ("ye", "yo") and i > 0 and word[i - 1] not in _LAT_VOWELS
                    out.append("ь" + cyr if soft else cyr)
                    i += len(lat)
                    break
            else:
                out.append(table.get(word[i], word[i]))
                i += 1
        else:
            c = word[i]
            out.append(("э" if i == 0 else "е") if c == "e" else table.get(c, c))
            i += 1
    return "".join(out)


def _to_ukrainian(word: str, *, i_after_vowel: str) -> str:
    """`word` (folded Latin) read as KMU 2010 Latin back into Ukrainian Cyrillic."""
    out = []
    i = 0
    while i < len(word):
        pairs = _LAT_UK_DIGRAPHS + (_LAT_UK_INITIAL if i == 0 else _LAT_UK_INSIDE)
        for lat, cyr in pairs:
            if word.startswith(lat, i):
                out.append(cyr)
                i += len(lat)
                break
        else:
            c = word[i]
            if c == "i" and i > 0 and word[i - 1] in _LAT_VOWELS:
                out.append(i_after_vowel)
            else:
                out.append(_LAT_UK.get(c, c))
            i += 1
    return "".join(out)


def _is_acronym(word: str) -> bool:
    """Two letters or more, all capitals: "АЭС", "NPP", "ԱԳՆ"."""
    return len(word) >= 2 and word.isupper()


def _cyrillic_schemes(lowered: str, lang: str, *, apostrophe: bool) -> list[Callable[[str], str]]:
    """The Cyrillic → Latin readings of a Cyrillic text: Ukrainian, Russian, or both."""
    letters = set(lowered)
    ukrainian = bool(letters & _UK_ONLY) or apostrophe
    russian = bool(letters & _RU_ONLY)
    if not ukrainian and not russian:
        ukrainian, russian = lang != "ru", lang != "uk"
    schemes: list[Callable[[str], str]] = []
    if ukrainian:
        schemes.append(_from_ukrainian)
    if russian:
        schemes += [functools.partial(_from_cyrillic, scheme=s) for s in _CYR_SCHEMES]
    return schemes


def _latin_spellings(lowered: str) -> list[str]:
    """The Latin → Cyrillic readings: Azerbaijani/Turkish letters, else Russian and Ukrainian."""
    if _AZ_TR_LETTERS.intersection(lowered):
        # read before folding, which would make ş an s and ə an e
        return [_words_of(lowered, functools.partial(_from_latin, table=_LAT_AZ, digraphs=False))]
    folded = fold(lowered)
    schemes: list[Callable[[str], str]] = [
        functools.partial(_from_latin, table=_LAT_EN, digraphs=True),
        functools.partial(_to_ukrainian, i_after_vowel="ї"),
        functools.partial(_to_ukrainian, i_after_vowel="й"),
    ]
    return [_words_of(folded, scheme) for scheme in schemes]


def _words_of(text: str, convert: Callable[[str], str]) -> str:
    return _WORD_CHARS.sub(lambda m: convert(m.group()), text)


def transliterations(text: str, lang: str = "") -> tuple[str, ...]:
    """Spellings of `text` in the other scripts, one per romanization scheme, folded, distinct.

    Cyrillic text gives Latin spellings (Ukrainian, Russian or both: see above; `lang`, the
    term's language code, settles a word that could be either), Armenian gives Latin and
    Cyrillic, Latin gives Cyrillic; text that mixes scripts, has none of these, or holds an
    acronym (a word of 2+ letters all in capitals) gives nothing. `text` itself is not included.
    """
    normal = unicodedata.normalize("NFKC", text)
    if any(_is_acronym(w) for w in _WORD_CHARS.findall(normal)):
        return ()
    lowered = normal.lower()
    # Only Ukrainian writes an apostrophe inside a word (Знам'янка); KMU drops it. Some of its
    # forms (ʼ) are letters to Unicode: dropped first, they do not make the word mixed-script.
    unapostrophed = _UK_APOSTROPHE.sub("", lowered)
    apostrophe = unapostrophed != lowered
    lowered = unapostrophed
    scripts = {_script(c) for c in lowered if c.isalpha()}
    out: list[str] = []
    if scripts == {_CYRILLIC}:
        primary = lang.split("-")[0].lower()
        for scheme in _cyrillic_schemes(lowered, primary, apostrophe=apostrophe):
            out.append(_words_of(lowered, scheme))
    elif scripts == {_ARMENIAN}:
        out = [
            _words_of(lowered, functools.partial(_from_armenian, table=t, latin=True))
            for t in _ARM_SCHEMES
        ]
        out.append(_words_of(lowered, functools.partial(_from_armenian, table={}, latin=False)))
    elif scripts == {_LATIN}:
        out = _latin_spellings(lowered)
    own = fold(text)
    seen: list[str] = []
    for spelling in (fold(s) for s in out):
        if spelling != own and spelling not in seen:
            seen.append(spelling)
    return tuple(seen)
