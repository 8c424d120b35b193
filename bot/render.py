"""Rendering: one alert becomes one Telegram HTML message that fits. No I/O.

The message, top to bottom: who spoke (name in bold, role, side); when, in UTC and in the
speaker's local time, and the language; the title (unless it merely repeats the start of the text)
and the text, escaped, with every matched term in bold and trimmed at a sentence or word boundary
to fit; the link; and why it matched ("Matched: topic — terms").

The text keeps its paragraphs and line breaks (Telegram HTML takes a literal line break). No
outside text carries bidi controls or zero-width characters into the message (U+202E would
reverse the line in clients): they are taken out for display only, as `bot.text.display_text`
decides, and the stored statement keeps them.

Every piece of outside text is escaped and clipped to a share of ``max_len``, so the message
always parses as Telegram HTML and stays within ``max_len`` UTF-16 code units, both as sent
(markup included) and as shown. Only http(s) links become links; a link whose escaped form is
longer than a fifth of ``max_len`` is left out.
"""

from __future__ import annotations

import difflib
import html
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from urllib.parse import quote, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.context import AlertContext, Mention
from bot.model import AlertForDelivery, Speaker, Topic
from bot.text import display_text
from bot.tghtml import html_to_plain, utf16_len

__all__ = [
    "BURST_WORDS_UNITS",
    "MIN_LEN",
    "burst_head",
    "burst_line",
    "render_alert",
    "render_burst",
    "render_deletion",
    "render_digest",
    "render_edit",
    "render_plain",
    "safe_href",
    "visible_units",
    "word_diff",
]

#: the smallest ``max_len`` the layout can honour
MIN_LEN = 1024
_ELLIPSIS = "…"
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
# Places a trimmed text may end: after a sentence, else after a word.
_SENTENCE_END = re.compile(r"[.!?։。؟…][\"'»”)\]]*\s+|\n")
_SPACE = re.compile(r"\s+")
# Characters a URL may not carry raw in an href the server accepts.
_URL_SAFE = "".join(chr(c) for c in range(0x21, 0x7F) if chr(c) not in '"<>\\^`{|}')


def render_alert(
    alert: AlertForDelivery,
    speaker: Speaker | None,
    topics: Mapping[str, Topic],
    *,
    context: AlertContext | None = None,
    max_len: int = 4096,
    max_text: int | None = None,
) -> str:
    """Render `alert` as Telegram HTML of at most `max_len` UTF-16 code units, the statement's
    text cut (at a sentence, with "…") to at most `max_text` units if given.

    Raises:
        ValueError: `max_len` is below `MIN_LEN`.
    """
    return _render(
        alert, speaker, topics, context, max_len=max_len, full_url=False, max_text=max_text
    )


def render_plain(
    alert: AlertForDelivery,
    speaker: Speaker | None,
    topics: Mapping[str, Topic],
    *,
    context: AlertContext | None = None,
    max_len: int = 4096,
) -> str:
    """The same message as plain text (for the console), with the link written out in full."""
    return html_to_plain(_render(alert, speaker, topics, context, max_len=max_len, full_url=True))


_KIND_WORDS = {
    "replied_to": ("↩️", "In reply to"),
    "quoted": ("💬", "Quoting"),
    "retweeted": ("🔁", "Reposting"),
    "forwarded": ("📨", "Forwarded from"),
}
# A handle is shown as "@name"; a display name (a forward from a person) as written.
_HANDLE = re.compile(r"[A-Za-z0-9_]{1,32}")


def _reference_line(ctx: AlertContext | None, limit: int) -> str:
    if ctx is None or ctx.reference is None:
        return ""
    ref = ctx.reference
    icon, words = _KIND_WORDS.get(ref.type, ("↪️", "About"))
    if ref.author and _HANDLE.fullmatch(ref.author):
        who = f"@{ref.author}"
    else:
        who = _clean(ref.author) if ref.author else "a post"
    excerpt = _esc_clip(_clean(ref.text), max(limit - 60, 20)) if ref.text else ""
    line = f"{icon} {words} {_esc_clip(who, 40)}"
    if excerpt:
        line += f": «{excerpt}»"
    href = safe_href(ref.url)
    if href and utf16_len(href) < limit // 3:
        line += f' (<a href="{html.escape(href, quote=True)}">post</a>)'
    return line


def _mention_line(m: Mention, limit: int) -> str:
    when = f"{m.published_at.astimezone(UTC):%H:%M} UTC"
    who = _esc_clip(_clean(m.speaker), 60)
    side = f" ({_esc_clip(_clean(m.side), 30)})" if m.side else ""
    text = _esc_clip(_clean(m.text), max(limit - 120, 20))
    href = safe_href(m.url)
    link = ""
    if href and utf16_len(href) < limit // 2:
        link = f' <a href="{html.escape(href, quote=True)}">link</a>'
    return f"• {who}{side}, {when}: {text}{link}"


def _context_lines(ctx: AlertContext | None, max_len: int) -> list[str]:
    if ctx is None:
        return []
    out: list[str] = []
    if ctx.also:
        names = []
        for name, url in ctx.also[:5]:
            label = _esc_clip(_clean(name), 60)
            href = safe_href(url)
            if href and utf16_len(href) < max_len // 12:
                label = f'<a href="{html.escape(href, quote=True)}">{label}</a>'
            names.append(label)
        out.append("📢 Also published by " + ", ".join(names))
    if ctx.other_side:
        out.append("⚖️ On the other side:")
        out.extend(_mention_line(m, max_len // 8) for m in ctx.other_side)
    return out


def _render(
    alert: AlertForDelivery,
    speaker: Speaker | None,
    topics: Mapping[str, Topic],
    context: AlertContext | None,
    *,
    max_len: int,
    full_url: bool,
    max_text: int | None = None,
) -> str:
    if max_len < MIN_LEN:
        raise ValueError(f"max_len must be at least {MIN_LEN}, got {max_len}")
    st = alert.statement
    title, title_at = display_text(_surrogates(st.title))
    text, text_at = display_text(_surrogates(st.text))

    head = [
        _speaker_line(speaker, st.speaker_id, max_len),
        _time_line(st.published_at, speaker, estimated=st.published_estimated),
    ]
    if st.language:
        head[-1] += " · " + _esc_clip(_clean(st.language), 16)
    ref_line = _reference_line(context, max_len // 6)
    if ref_line:
        head.append(ref_line)
    tail = _context_lines(context, max_len)
    link = _link(st.url, max_len, full_url)
    if link:
        tail.append(link)
    why = _why(alert, topics, max_len // 8)
    if why:
        tail.append(why)

    # The matched terms' offsets are into the stored title and text: moved to the shown ones.
    spans = _bold_spans(alert)
    split = len(st.title) + 1
    title_spans = _shown_spans([(s, e) for s, e in spans if e <= len(st.title)], title_at)
    text_spans = _shown_spans([(s - split, e - split) for s, e in spans if s >= split], text_at)
    show_title = bool(title.strip()) and not _title_repeats_text(title, text)

    fixed = "\n".join(head) + "\n\n" + "\n".join(tail)
    budget = max_len - utf16_len(fixed) - 4  # the blank lines around the body
    body_parts: list[str] = []
    if show_title:
        title_html = _markup(title, title_spans, budget // 4 - 7)
        if title_html:
            body_parts.append(f"<i>{title_html}</i>")
            budget -= utf16_len(body_parts[-1]) + 2
    thread = context.thread if context else ()
    if text.strip():
        share = budget // (1 + len(thread)) if thread else budget
        if max_text is not None:
            share = min(share, max_text)
        text_html = _markup(text, text_spans, share)
        if text_html:
            body_parts.append(text_html)
            budget -= utf16_len(text_html) + 2
    for n, more in enumerate(thread, start=1):
        share = budget // (len(thread) - n + 1) - 12
        more_html = _markup(_clean(more.text), [], share)
        if more_html:
            body_parts.append(f"🧵 {n + 1}/ {more_html}")
            budget -= utf16_len(body_parts[-1]) + 2
    body = "\n\n".join(body_parts)
    message = "\n".join(head) + ("\n\n" + body if body else "") + "\n\n" + "\n".join(tail)
    return message.rstrip()


def _surrogates(s: str) -> str:
    """`s` without lone surrogates (which Telegram refuses), code point for code point."""
    return _LONE_SURROGATE.sub("\ufffd", s)


def _clean(s: str) -> str:
    """`s` fit to show: no lone surrogates, no bidi controls or zero-width characters."""
    return display_text(_surrogates(s))[0]


def _shown_spans(spans: Sequence[tuple[int, int]], shown: Sequence[int]) -> list[tuple[int, int]]:
    """Spans into a text moved to the text as shown (`shown` from `display_text`)."""
    out = [(shown[s], shown[e]) for s, e in spans]
    return [(s, e) for s, e in out if s < e]


def _esc(s: str) -> str:
    return html.escape(s, quote=False)


def _esc_clip(s: str, limit: int) -> str:
    """`s` escaped, clipped with "…" so that the escaped form has at most `limit` units."""
    s = _SPACE.sub(" ", s).strip()
    out = _esc(s)
    if utf16_len(out) <= limit:
        return out
    cut = _fit(s, [], limit - 1)
    return _esc(s[:cut].rstrip()) + _ELLIPSIS


def _speaker_line(speaker: Speaker | None, speaker_id: str, max_len: int) -> str:
    share = max_len // 20
    if speaker is None:
        return f"🗣 <b>{_esc_clip(_clean(speaker_id), share) or '?'}</b>"
    line = f"🗣 <b>{_esc_clip(_clean(speaker.name), share) or '?'}</b>"
    extra = [
        _esc_clip(_clean(speaker.role), share),
        _esc_clip(_clean(speaker.side), max_len // 40),
    ]
    extra = [x for x in extra if x]
    return line + (" — " + " · ".join(extra) if extra else "")


def _when(dt: datetime) -> str:
    return f"{dt.day} {_MONTHS[dt.month - 1]} {dt.year} {dt:%H:%M}"


def _time_line(published: datetime, speaker: Speaker | None, *, estimated: bool = False) -> str:
    utc = (published if published.tzinfo else published.replace(tzinfo=UTC)).astimezone(UTC)
    if estimated:
        # No date in the source: say so, rather than pass the time we saw it as its own.
        return f"🕒 first seen {_when(utc)} UTC, no date in the feed"
    line = f"🕒 {_when(utc)} UTC"
    zone = _zone(speaker.timezone) if speaker else None
    if zone is not None:
        local = utc.astimezone(zone)
        offset = local.utcoffset() or timedelta(0)
        sign = "-" if offset < timedelta(0) else "+"
        minutes = abs(int(offset.total_seconds())) // 60
        place = _esc_clip(str(zone.key).rsplit("/", 1)[-1].replace("_", " "), 40)
        day = "" if local.date() == utc.date() else f"{local.day} {_MONTHS[local.month - 1]} "
        line += f" · {day}{local:%H:%M} {place} (UTC{sign}{minutes // 60:02d}:{minutes % 60:02d})"
    return line


def _zone(name: str) -> ZoneInfo | None:
    if not name or name.upper() == "UTC":
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return None


def safe_href(url: str | None) -> str | None:
    """`url` made fit for an ``<a href>``: http(s) only, unsafe characters percent-encoded."""
    if not url:
        return None
    url = url.strip()
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    if any(c in parts.netloc for c in '"<>\\^`{|} \t\r\n'):
        return None
    return quote(url, safe=_URL_SAFE + "%")


def _link(url: str | None, max_len: int, full_url: bool) -> str:
    href = safe_href(url)
    if href is None:
        return ""
    escaped = html.escape(href, quote=True)
    # A link longer than half the message would crowd out the statement itself.
    if utf16_len(escaped) > max_len // 2:
        return ""
    label = _clean(url or "").strip()
    if not full_url and len(label) > 40:
        label = label[:39] + _ELLIPSIS
    return f'🔗 <a href="{escaped}">{_esc(label)}</a>'


def _why(alert: AlertForDelivery, topics: Mapping[str, Topic], limit: int) -> str:
    parts = []
    for m in alert.statement.matches:
        topic = topics.get(m.topic_id)
        name = _clean(topic.name if topic else m.topic_id)
        seen: dict[str, str] = {}
        for t in m.terms:
            seen.setdefault(t.found.casefold(), t.found)
        found = ", ".join(_clean(f) for f in seen.values())
        parts.append(f"{name} — {found}" if found else name)
    if not parts:
        return ""
    return "🎯 Matched: " + _esc_clip("; ".join(parts), limit - 12)


def _bold_spans(alert: AlertForDelivery) -> list[tuple[int, int]]:
    """The matched terms' spans (into title + "\\n" + text), overlaps merged."""
    full_len = len(alert.statement.title) + 1 + len(alert.statement.text)
    raw = sorted(
        (t.start, t.end)
        for m in alert.statement.matches
        for t in m.terms
        if 0 <= t.start < t.end <= full_len
    )
    merged: list[tuple[int, int]] = []
    for s, e in raw:
        if merged and s <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], e))
        else:
            merged.append((s, e))
    return merged


def _title_repeats_text(title: str, text: str) -> bool:
    """True when the title is only the start of the text (as feeds of short posts make it)."""
    t = _SPACE.sub(" ", title).strip().rstrip(".…").strip()
    x = _SPACE.sub(" ", text).strip()
    return not t or x.startswith(t)


def _cost(ch: str) -> int:
    if ch == "&":
        return 5
    if ch in "<>":
        return 4
    return 2 if ord(ch) > 0xFFFF else 1


def _fit(s: str, spans: Sequence[tuple[int, int]], budget: int) -> int:
    """The longest prefix length of `s` whose markup (spans in bold) costs at most `budget`."""
    tags = 0
    total = 0
    span_i = 0
    for i, ch in enumerate(s):
        while span_i < len(spans) and spans[span_i][1] <= i:
            span_i += 1
        if span_i < len(spans) and spans[span_i][0] == i:
            tags = 7
        total += _cost(ch)
        if total + tags > budget:
            return i
        if span_i < len(spans) and spans[span_i][1] == i + 1:
            total += tags
            tags = 0
    return len(s)


def _markup(s: str, spans: Sequence[tuple[int, int]], budget: int) -> str:
    """`s` escaped with `spans` in bold, trimmed to a boundary with "…" to cost at most `budget`."""
    if budget <= 1:
        return ""
    cut = _fit(s, spans, budget)
    if cut < len(s):
        cut = _fit(s, spans, budget - 1)  # room for the ellipsis
        cut = _boundary(s, cut)
        # never cut through a bold term
        for a, b in spans:
            if a < cut < b:
                cut = a
        shown = s[:cut].rstrip()
        cut = len(shown)
        if not shown:
            return ""
    out: list[str] = []
    pos = 0
    for a, b in spans:
        if b > cut:
            break
        out.append(_esc(s[pos:a]))
        out.append(f"<b>{_esc(s[a:b])}</b>")
        pos = b
    out.append(_esc(s[pos:cut]))
    if cut < len(s):
        out.append(_ELLIPSIS)
    return "".join(out)


def _boundary(s: str, cut: int) -> int:
    """A cut at or before `cut`: after a sentence if one ends late enough, else after a word."""
    floor = cut * 2 // 3
    best = -1
    for m in _SENTENCE_END.finditer(s, 0, cut):
        if m.end() >= floor:
            best = m.end()
    if best > 0:
        return best
    space = max(s.rfind(" ", 0, cut + 1), s.rfind("\n", 0, cut + 1))
    if space >= floor:
        return space
    return cut


_WORD = re.compile(r"\S+|\s+")


def word_diff(old: str, new: str) -> list[tuple[str, str]]:
    """The change from `old` to `new` word by word: ("=", text), ("-", removed), ("+", added)."""
    a = [w for w in _WORD.findall(old) if not w.isspace()]
    b = [w for w in _WORD.findall(new) if not w.isspace()]
    out: list[tuple[str, str]] = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        if op == "equal":
            out.append(("=", " ".join(a[i1:i2])))
            continue
        if i2 > i1:
            out.append(("-", " ".join(a[i1:i2])))
        if j2 > j1:
            out.append(("+", " ".join(b[j1:j2])))
    return out


def _diff_html(parts: list[tuple[str, str]], budget: int, context_words: int = 8) -> str:
    """Changed words marked (removed struck through, added underlined), unchanged runs shortened
    to `context_words` on each side, clipped to `budget` UTF-16 units."""
    pieces: list[str] = []
    for n, (op, text) in enumerate(parts):
        if op == "-":
            pieces.append(f"<s>{_esc(_clean(text))}</s>")
        elif op == "+":
            pieces.append(f"<u>{_esc(_clean(text))}</u>")
        else:
            words = _clean(text).split(" ")
            first, last = n == 0, n == len(parts) - 1
            if len(words) > 2 * context_words:
                head = [] if first else words[:context_words]
                tail = [] if last else words[-context_words:]
                text = " ".join([*head, _ELLIPSIS, *tail]).strip()
            pieces.append(_esc(text))
    out = ""
    for p in pieces:
        candidate = f"{out} {p}" if out else p
        if utf16_len(candidate) > budget - 2:
            return out + " " + _ELLIPSIS
        out = candidate
    return out


def _ago(start: datetime, end: datetime) -> str:
    minutes = max(0, int((end - start).total_seconds() // 60))
    if minutes < 120:
        return f"{minutes} minute{'s' if minutes != 1 else ''}"
    hours = minutes // 60
    return f"{hours} hours" if hours < 48 else f"{hours // 24} days"


def render_edit(
    alert: AlertForDelivery,
    speaker: Speaker | None,
    *,
    before: str,
    after: str,
    edited_at: datetime,
    max_len: int = 4096,
) -> str:
    """A reply to an alert saying the statement was edited, with the word-level change."""
    st = alert.statement
    who = _esc_clip(_clean(speaker.name if speaker else st.speaker_id), max_len // 20)
    head = f"✏️ <b>Edited</b> by {who}, {_ago(st.published_at, edited_at)} after publication"
    diff = _diff_html(word_diff(before, after), max_len - utf16_len(head) - 200)
    legend = "(struck through: removed · underlined: added)"
    link = _link(st.url, max_len, False)
    return "\n\n".join(x for x in (head, diff, legend, link) if x)


def render_deletion(
    alert: AlertForDelivery,
    speaker: Speaker | None,
    *,
    deleted_at: datetime,
    max_len: int = 4096,
) -> str:
    """A reply to an alert saying the statement was deleted, quoting what it said."""
    st = alert.statement
    who = _esc_clip(_clean(speaker.name if speaker else st.speaker_id), max_len // 20)
    head = (
        f"🗑 <b>Deleted</b> by {who} about {_ago(st.published_at, deleted_at)} after "
        "publication. It said:"
    )
    quoted = _markup(_clean(st.text or st.title), [], max_len - utf16_len(head) - 60)
    return f"{head}\n<blockquote>{quoted}</blockquote>" if quoted else head


def render_digest(
    alerts: Sequence[AlertForDelivery],
    speakers: Mapping[str, Speaker],
    *,
    max_len: int = 4096,
) -> str:
    """Several low-priority alerts as one message: a line each, newest last."""
    head = f"🗞 <b>Digest</b> — {len(alerts)} statement{'s' if len(alerts) != 1 else ''}"
    lines = [head]
    used = utf16_len(head)
    per_line = max(120, (max_len - used) // max(1, len(alerts)) - 2)
    shown = 0
    for a in sorted(alerts, key=lambda a: (a.statement.published_at, a.id)):
        st = a.statement
        sp = speakers.get(st.speaker_id)
        mention = Mention(
            speaker=sp.name if sp else st.speaker_id,
            side=sp.side if sp else "",
            published_at=st.published_at,
            text=st.title if st.title and not st.text.startswith(st.title) else st.text,
            url=st.url,
        )
        line = _mention_line(mention, per_line)
        if used + utf16_len(line) + 1 > max_len - 40:
            break
        lines.append(line)
        used += utf16_len(line) + 1
        shown += 1
    if shown < len(alerts):
        lines.append(f"… and {len(alerts) - shown} more")
    return "\n".join(lines)


#: room for a statement's first words in a burst digest line (issue 11)
BURST_WORDS_UNITS = 90


def burst_head(count: int) -> str:
    """The first line of a burst digest of `count` statements."""
    return f"⏱ <b>{count} statements</b> in a burst, gathered to keep up:"


def burst_line(alert: AlertForDelivery, speakers: Mapping[str, Speaker]) -> str:
    """A statement's line in a burst digest: speaker, time, first words, link (never dropped)."""
    st = alert.statement
    sp = speakers.get(st.speaker_id)
    when = f"{st.published_at.astimezone(UTC):%H:%M} UTC"
    who = _esc_clip(_clean(sp.name if sp else st.speaker_id), 60)
    text = st.title if st.title and not st.text.startswith(st.title) else st.text
    words = _esc_clip(_clean(text), BURST_WORDS_UNITS)
    href = safe_href(st.url)
    link = f' <a href="{html.escape(href, quote=True)}">link</a>' if href else ""
    return f"• {who}, {when}: {words}{link}"


def render_burst(
    alerts: Sequence[AlertForDelivery], speakers: Mapping[str, Speaker], *, max_len: int = 4096
) -> str:
    """Several statements of a burst as one message, a line each in outbox order.

    Raises:
        ValueError: the lines do not fit `max_len` as the reader sees them (the plan should
            have split them; a line is never dropped silently).
    """
    html_out = "\n".join([burst_head(len(alerts)), *(burst_line(a, speakers) for a in alerts)])
    if utf16_len(html_to_plain(html_out)) > max_len:
        raise ValueError(f"burst digest of {len(alerts)} lines is over {max_len} units")
    return html_out


def visible_units(html_text: str) -> int:
    """How many UTF-16 units Telegram counts for Telegram HTML `html_text`."""
    return utf16_len(html_to_plain(html_text))
