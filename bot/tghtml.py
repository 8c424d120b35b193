"""Telegram Bot API HTML parse mode, parsed the way the Bot API server parses it. No I/O.

The rules follow the official server (TDLib's ``parse_html``): only the tags ``b strong i em u
ins s strike del span tg-spoiler a code pre blockquote tg-emoji`` are known; a ``span`` must have
``class="tg-spoiler"``; tags must nest; ``</>`` closes the innermost tag; only ``&lt; &gt; &amp;
&quot;`` and numeric references are decoded (any other ``&name;`` stays as written); every other
``<`` is the start of a tag. Offsets in errors are byte offsets into the UTF-8 text, as the server
reports them; entity offsets and lengths are in UTF-16 code units.

What the server rejects raises `TgHtmlError`, whose message is the part after
``400 Bad Request: can't parse entities: ``. Links the server would silently drop (an ``<a>`` with
an unusable URL) give no entity, as there. ``<tg-time>`` is not supported here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = [
    "TgEntity",
    "TgHtmlError",
    "TgText",
    "cut_html",
    "html_to_plain",
    "parse_tg_html",
    "utf16_len",
]

_KNOWN_TAGS = frozenset(
    {"a", "b", "strong", "i", "em", "s", "strike", "del", "u", "ins"}
    | {"tg-spoiler", "tg-emoji", "span", "pre", "code", "blockquote"}
)
_SIMPLE_TYPES = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "tg-spoiler": "spoiler",
    "span": "spoiler",
}
# The server sorts entities by offset, then longer first, then by this rank of type.
_TYPE_RANK = {
    "blockquote": 0,
    "expandable_blockquote": 0,
    "pre": 11,
    "code": 20,
    "text_link": 49,
    "text_mention": 49,
    "bold": 90,
    "italic": 91,
    "underline": 92,
    "strikethrough": 93,
    "spoiler": 94,
    "custom_emoji": 99,
}
# The server's is_space: NUL counts, which is how it notices the end of the text inside a tag.
_SPACE = frozenset(b" \t\r\n\x00\x0b")
_PLAIN_RUN = re.compile(rb"[^&<]+")
_ALNUM = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
_ALPHA = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
_DIGITS = frozenset(b"0123456789")
_HEX = frozenset(b"0123456789abcdefABCDEF")
_NAMED = {b"lt": "<", b"gt": ">", b"amp": "&", b"quot": '"'}
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
_USER_LINK = re.compile(r"tg://user\?id=([1-9][0-9]{0,15})", re.IGNORECASE)
_HOST = re.compile(r"(?:[^\x00-\x7f]|[A-Za-z0-9_.-])+|\[[0-9A-Fa-f:.]+\]")


class TgHtmlError(ValueError):
    """The server would answer ``400 Bad Request: can't parse entities: <message>``."""


@dataclass(frozen=True, slots=True)
class TgEntity:
    """One MessageEntity as the server would create it."""

    #: Bot API type name: "bold", "text_link", "pre", "expandable_blockquote", ...
    type: str
    #: in UTF-16 code units
    offset: int
    length: int
    #: the normalized link of a "text_link"
    url: str | None = None
    #: the language of a "pre" with a nested ``<code class="language-...">``
    language: str | None = None
    custom_emoji_id: str | None = None
    #: the user of a "text_mention" (``tg://user?id=...``)
    user_id: int | None = None


@dataclass(frozen=True, slots=True)
class TgText:
    """A message as the server sees it after parsing: plain text plus entities."""

    text: str
    entities: tuple[TgEntity, ...] = ()


def utf16_len(s: str) -> int:
    """Length of `s` in UTF-16 code units, as Telegram counts it."""
    if s.isascii():
        return len(s)
    return len(s.encode("utf-16-le", "surrogatepass")) // 2


def html_to_plain(s: str) -> str:
    """The text a reader sees for Telegram HTML `s` (tags dropped, entities decoded).

    Raises:
        TgHtmlError: `s` is not valid Telegram HTML.
    """
    return parse_tg_html(s).text


_TOKEN = re.compile(
    r"(?P<tag><[^>]*>)|(?P<ref>&(?:#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z]+);)|(?P<char>[^<&]|&)",
    re.DOTALL,
)
_REF_TEXT = {"&lt;": "<", "&gt;": ">", "&amp;": "&", "&quot;": '"'}


def _ref_units(ref: str) -> int:
    """UTF-16 units of a character reference as the server decodes it (others stay as written)."""
    if ref in _REF_TEXT:
        return 1
    if ref.startswith("&#"):
        digits = ref[2:-1]
        code = int(digits[1:], 16) if digits[:1] in ("x", "X") else int(digits)
        return 2 if code > 0xFFFF else 1
    return utf16_len(ref)


def cut_html(s: str, limit: int) -> tuple[str, str]:
    """`s` (valid Telegram HTML) cut in two: a head of at most `limit` UTF-16 units of text after
    entity parsing, and the rest. No I/O.

    The cut falls after a line end where one is in the second half of the head, else after a
    space, else at the limit; never inside a tag or a character reference. Tags open at the cut
    are closed in the head and opened again in the rest, so both halves stay valid (issue 11:
    a photo's caption takes 1,024 characters, the rest goes in a reply).
    """
    if utf16_len(html_to_plain(s)) <= limit:
        return s, ""
    atoms: list[tuple[str, str, int]] = []  # (raw, kind, units)
    for m in _TOKEN.finditer(s):
        kind = m.lastgroup or "char"
        raw = m.group(0)
        units = 0 if kind == "tag" else _ref_units(raw) if kind == "ref" else utf16_len(raw)
        atoms.append((raw, kind, units))
    used = 0
    hard = line = space = 0
    for i, (raw, _kind, units) in enumerate(atoms):
        if used + units > limit:
            break
        used += units
        hard = i + 1
        if raw == "\n":
            line = i + 1
        elif raw == " ":
            space = i + 1
    half = sum(u for _, _, u in atoms[:hard]) // 2
    cut = hard
    for candidate in (line, space):
        if candidate and sum(u for _, _, u in atoms[:candidate]) >= half:
            cut = candidate
            break
    stack: list[tuple[str, str]] = []  # (name, opening tag as written)
    for raw, kind, _ in atoms[:cut]:
        if kind != "tag":
            continue
        if raw.startswith("</"):
            if stack:
                stack.pop()
        else:
            name = raw[1:-1].split(None, 1)[0].lower() if raw[1:-1].strip() else ""
            stack.append((name, raw))
    head = "".join(raw for raw, _, _ in atoms[:cut])
    head += "".join(f"</{name}>" for name, _ in reversed(stack))
    tail = "".join(raw for _, raw in stack) + "".join(raw for raw, _, _ in atoms[cut:])
    return head, tail


@dataclass(slots=True)
class _Open:
    tag: str
    argument: str
    utf16_offset: int
    #: index into the output pieces where this entity's text begins
    piece_index: int
    expandable: bool = False


@dataclass(slots=True)
class _Made:
    type: str
    offset: int
    length: int
    argument: str = ""


def _decode_entity(b: bytes, pos: int) -> tuple[int, int]:
    """The code point of the character reference at `pos` and the position after it; 0 if none."""
    n = len(b)

    def at(i: int) -> int:
        return b[i] if i < n else 0

    end = pos + 1
    res = 0
    if at(pos + 1) == 0x23:  # '#'
        end += 1
        if at(pos + 2) == 0x78:  # 'x', lower case only, as the server reads it
            end += 1
            while at(end) in _HEX:
                res = res * 16 + int(chr(b[end]), 16)
                end += 1
        else:
            while at(end) in _DIGITS:
                res = res * 10 + b[end] - 0x30
                end += 1
        if res == 0 or res >= 0x10FFFF or end - pos >= 10:
            return 0, pos
    else:
        while at(end) in _ALPHA:
            end += 1
        ch = _NAMED.get(b[pos + 1 : end])
        if ch is None:
            return 0, pos
        res = ord(ch)
    if at(end) == 0x3B:  # ';'
        end += 1
    return res, end


def _check_link(url: str) -> str | None:
    """The URL the server would store for an ``<a href>``, or None if it would drop the link."""
    if not url or any(c <= " " or c == "\x7f" for c in url):
        return None
    if url.lower().startswith(("tg:", "ton:", "tonsite:")):
        return url if url.split(":", 1)[1].lstrip("/") else None
    m = re.match(r"([A-Za-z][A-Za-z0-9+.-]*)://", url)
    scheme = m.group(1).lower() if m else "http"
    if scheme not in ("http", "https"):
        return None
    rest = url[m.end() :] if m else url
    cut = min((i for i in (rest.find(c) for c in "/?#") if i >= 0), default=len(rest))
    netloc, tail = rest[:cut], rest[cut:]
    userinfo, _, hostport = netloc.rpartition("@")
    host, port = hostport, ""
    if not host.startswith("[") and ":" in host:
        host, port = host.rsplit(":", 1)
        if not port.isdigit() or not 0 < int(port) < 65536:
            return None
    if not _HOST.fullmatch(host) or host.startswith(".") or ".." in host:
        return None
    if not tail.startswith("/"):
        tail = "/" + tail
    user_part = f"{userinfo}@" if userinfo else ""
    port_part = f":{port}" if port else ""
    return f"{scheme}://{user_part}{host.lower()}{port_part}{tail}"


def parse_tg_html(s: str) -> TgText:
    """Parse Telegram HTML `s` into plain text and entities, or fail as the server would.

    Raises:
        TgHtmlError: the server would refuse `s`; the message is the server's reason.
    """
    try:
        b = s.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise TgHtmlError("Strings must be encoded in UTF-8") from exc
    n = len(b)

    def at(i: int) -> int:
        return b[i] if i < n else 0

    pieces: list[str] = []
    made: list[_Made] = []
    stack: list[_Open] = []
    offset = 0  # in UTF-16 code units
    i = 0
    while i < n:
        c = b[i]
        if c != 0x26 and c != 0x3C:  # neither '&' nor '<'
            m = _PLAIN_RUN.match(b, i)
            assert m is not None
            run = m.group().decode("utf-8")
            pieces.append(run)
            offset += utf16_len(run)
            i = m.end()
            continue
        if c == 0x26:
            ch, end = _decode_entity(b, i)
            if ch:
                pieces.append(chr(ch))
                offset += 2 if ch > 0xFFFF else 1
                i = end
            else:
                pieces.append("&")
                offset += 1
                i += 1
            continue

        begin = i
        i += 1
        if at(i) != 0x2F:  # a start tag
            i, tag, argument, expandable = _start_tag(b, begin, i)
            stack.append(_Open(tag, argument, offset, len(pieces), expandable))
            continue

        # An end tag. As in the server, a NUL byte ends the text inside a tag.
        if not stack:
            raise TgHtmlError(f"Unexpected end tag at byte offset {begin}")
        i += 1
        name_begin = i
        while at(i) not in _SPACE and at(i) != 0x3E:
            i += 1
        end_name = b[name_begin:i].decode("utf-8", "replace")
        while at(i) in _SPACE and at(i) != 0:
            i += 1
        if at(i) != 0x3E:
            raise TgHtmlError(f"Unclosed end tag at byte offset {begin}")
        i += 1
        top = stack.pop()
        if end_name and end_name != top.tag:
            raise TgHtmlError(
                f"Unmatched end tag at byte offset {begin}, "
                f'expected "</{top.tag}>", found "</{end_name}>"'
            )
        _close(top, offset, pieces, made)

    if stack:
        raise TgHtmlError(f'Can\'t find end tag corresponding to start tag "{stack[-1].tag}"')
    text = "".join(pieces)
    if _LONE_SURROGATE.search(text):
        raise TgHtmlError(
            "Text contains invalid Unicode characters after decoding HTML entities, "
            "check for unmatched surrogate code units"
        )
    return TgText(text, _finish(made))


def _start_tag(b: bytes, begin: int, i: int) -> tuple[int, str, str, bool]:
    """Read the start tag at `begin`; return the position after it, its name and argument.

    As in the server, a NUL byte (or the end of the text) inside a tag means "unclosed".
    """
    n = len(b)

    def at(j: int) -> int:
        return b[j] if j < n else 0

    while at(i) not in _SPACE and at(i) != 0x3E:
        i += 1
    if at(i) == 0:
        raise TgHtmlError(f"Unclosed start tag at byte offset {begin}")
    tag = b[begin + 1 : i].decode("utf-8", "replace").lower()
    if tag not in _KNOWN_TAGS:
        raise TgHtmlError(f'Unsupported start tag "{tag}" at byte offset {begin}')
    argument = ""
    expandable = False
    while at(i) != 0x3E:
        while at(i) != 0 and at(i) in _SPACE:
            i += 1
        if at(i) == 0x3E:
            break
        if at(i) == 0:
            raise TgHtmlError(f"Unclosed start tag at byte offset {begin}")
        name_begin = i
        while at(i) not in _SPACE and at(i) not in (0x3D, 0x3E):
            i += 1
        name = b[name_begin:i].decode("utf-8", "replace")
        if not name:
            raise TgHtmlError(f'Empty attribute name in the tag "{tag}" at byte offset {begin}')
        while at(i) != 0 and at(i) in _SPACE:
            i += 1
        if at(i) != 0x3D:  # an attribute without a value
            if tag == "blockquote" and name == "expandable":
                expandable = True
            continue
        i += 1
        while at(i) != 0 and at(i) in _SPACE:
            i += 1
        if at(i) == 0:
            raise TgHtmlError(f'Unclosed start tag "{tag}" at byte offset {begin}')
        if at(i) not in (0x22, 0x27):
            # A name token: letters, digits, periods, hyphens; not case sensitive.
            token_begin = i
            while at(i) in _ALNUM or at(i) in (0x2E, 0x2D):
                i += 1
            value = b[token_begin:i].decode("ascii").lower()
            if at(i) not in _SPACE and at(i) != 0x3E:
                raise TgHtmlError(f"Unexpected end of name token at byte offset {token_begin}")
        else:
            quote = at(i)
            i += 1
            parts: list[str] = []
            run_begin = i
            while at(i) != quote and at(i) != 0:
                if at(i) == 0x26:
                    ch, end = _decode_entity(b, i)
                    if ch:
                        parts.append(b[run_begin:i].decode("utf-8", "replace"))
                        parts.append(chr(ch))
                        i = run_begin = end
                        continue
                i += 1
            parts.append(b[run_begin:i].decode("utf-8", "replace"))
            value = "".join(parts)
            if at(i) == quote:
                i += 1
        if at(i) == 0:
            raise TgHtmlError(f"Unclosed start tag at byte offset {begin}")
        if tag == "a" and name == "href":
            argument = value
        elif tag == "code" and name == "class" and value.startswith("language-"):
            argument = value[9:]
        elif tag == "span" and name == "class" and value.startswith("tg-"):
            argument = value[3:]
        elif tag == "tg-emoji" and name == "emoji-id":
            argument = value
        elif tag == "blockquote" and name == "expandable":
            expandable = True
    if tag == "span" and argument != "spoiler":
        raise TgHtmlError(f'Tag "span" must have class "tg-spoiler" at byte offset {begin}')
    return i + 1, tag, argument, expandable


def _close(top: _Open, offset: int, pieces: list[str], made: list[_Made]) -> None:
    """Turn a closed tag into an entity, as the server does (empty ones vanish)."""
    length = offset - top.utf16_offset
    if length <= 0:
        return
    start = top.utf16_offset
    tag = top.tag
    if tag in _SIMPLE_TYPES:
        made.append(_Made(_SIMPLE_TYPES[tag], start, length))
    elif tag == "tg-emoji":
        arg = top.argument
        if not (arg.isascii() and arg.isdigit() and 0 < int(arg) < 2**63):
            raise TgHtmlError("Invalid custom emoji identifier specified")
        made.append(_Made("custom_emoji", start, length, str(int(arg))))
    elif tag == "a":
        url = top.argument or "".join(pieces[top.piece_index :])
        user = _USER_LINK.fullmatch(url)
        if user:
            made.append(_Made("text_mention", start, length, user.group(1)))
        else:
            checked = _check_link(url)
            if checked is not None:
                made.append(_Made("text_link", start, length, checked))
    elif tag == "pre":
        last = made[-1] if made else None
        if (
            last is not None
            and last.type == "code"
            and (last.offset, last.length) == (start, length)
            and last.argument
        ):
            last.type = "pre_code"
        else:
            made.append(_Made("pre", start, length))
    elif tag == "code":
        last = made[-1] if made else None
        if (
            last is not None
            and last.type == "pre"
            and (last.offset, last.length) == (start, length)
            and top.argument
        ):
            last.type = "pre_code"
            last.argument = top.argument
        else:
            made.append(_Made("code", start, length, top.argument))
    elif tag == "blockquote":
        kind = "expandable_blockquote" if top.expandable else "blockquote"
        made.append(_Made(kind, start, length))


def _finish(made: list[_Made]) -> tuple[TgEntity, ...]:
    out: list[TgEntity] = []
    for e in made:
        if e.type == "pre_code":
            out.append(TgEntity("pre", e.offset, e.length, language=e.argument))
        elif e.type == "text_link":
            out.append(TgEntity("text_link", e.offset, e.length, url=e.argument))
        elif e.type == "text_mention":
            out.append(TgEntity("text_mention", e.offset, e.length, user_id=int(e.argument)))
        elif e.type == "custom_emoji":
            out.append(TgEntity("custom_emoji", e.offset, e.length, custom_emoji_id=e.argument))
        else:
            out.append(TgEntity(e.type, e.offset, e.length))
    out.sort(key=lambda e: (e.offset, -e.length, _TYPE_RANK.get(e.type, 50)))
    return tuple(out)
