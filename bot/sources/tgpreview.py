"""A channel's public web preview page (``t.me/s/CHANNEL``) to posts. No I/O.

Reads the markup the preview serves (see ``bot.fakes.telegram_preview`` for where each structure
was seen on saved real pages): one ``tgme_widget_message`` block per post carrying
``data-post="channel/123"``; the post's own text in ``js-message_text`` (the replied-to post's
text sits in ``js-message_reply_text``, and must not be read as the post); the time in
``a.tgme_widget_message_date time[datetime]`` (a video's running time is a ``<time>`` too, with
no ``datetime``); "edited" written in ``tgme_widget_message_meta``; the signature in
``tgme_widget_message_from_author``; media wrappers; ``tgme_widget_message_forwarded_from`` and
``tgme_widget_message_reply``; ``service_message`` for pins and renames; and the
``message_media_not_supported`` placeholder ("Please open Telegram to view this post").

Nothing here raises on hostile or unknown markup: what cannot be read is left out and said in
``PreviewPage.problems``; the adapter decides what a page with no readable post means
(``layout_problem``).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from urllib.parse import parse_qs, urlsplit

import lxml.etree
from lxml.etree import _Element as HtmlElement

from bot.model import FetchedItem, Reference, StatementKind

__all__ = [
    "Forward",
    "MediaKind",
    "PreviewPage",
    "PreviewPost",
    "ReplyTo",
    "layout_problem",
    "parse_preview_page",
    "post_json",
    "post_to_item",
]

#: Telegram public usernames: 5 to 32 characters, a letter first (4-letter names are sold as
#: collectibles and exist too, so 4 is accepted)
_USERNAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{3,31}")
_TME_LINK = re.compile(
    r"^(?:https?://)?(?:www\.)?(?:t\.me|telegram\.me|telegram\.dog)/(?:s/)?(?P<name>[^/?#]+)/?(?:[?#].*)?$",
    re.IGNORECASE,
)
#: a post's own address: t.me/<channel>/<number>
_POST_LINK = re.compile(
    r"^https?://(?:t\.me|telegram\.me)/(?:s/)?(?P<name>[A-Za-z0-9_]+)/(?P<n>[0-9]{1,18})"
)
_SPACE = re.compile(r"[ \t\r\n\f\v\u00a0]+")
_BLOCK_TAGS = frozenset({"div", "p", "blockquote", "pre", "li", "ul", "ol"})



class MediaKind(StrEnum):
    """What a post carries besides its text."""

    PHOTO = "photo"
    VIDEO = "video"
    DOCUMENT = "document"
    POLL = "poll"
    VOICE = "voice"
    STICKER = "sticker"
    LOCATION = "location"


@dataclass(frozen=True, slots=True)
class Forward:
    """Where a forwarded post comes from."""

    #: the name shown ("Ministry of Foreign Affairs")
    name: str
    #: the public username of the origin, when the link names one
    username: str | None = None
    #: the origin post's number in that channel, when the link names one
    number: int | None = None
    url: str | None = None


@dataclass(frozen=True, slots=True)
class ReplyTo:
    """The post a post answers."""

    number: int | None
    #: the channel of the replied-to post (its link), usually the same channel
    username: str | None
    author: str
    text: str
    url: str | None


@dataclass(frozen=True, slots=True)
class PreviewPost:
    """One post block of a preview page, read."""

    channel: str
    number: int
    url: str
    published_at: datetime | None
    #: plain text, paragraphs as "\n", link targets kept after their words
    text: str
    #: the text's HTML as served, kept as evidence
    text_html: str = ""
    edited: bool = False
    #: the author's signature, when the channel signs its posts
    signature: str | None = None
    #: media in document order; an album has several
    media: tuple[MediaKind, ...] = ()
    #: an album (one statement for several media)
    album: bool = False
    #: issue 11: the photos' image URLs (the preview's background-image), in order
    photos: tuple[str, ...] = ()
    #: every post number this block accounts for (an album's items have their own)
    numbers: tuple[int, ...] = ()
    #: a document's file name or a poll's question
    media_title: str = ""
    #: a poll's options (without the running percentages, which change)
    poll_options: tuple[str, ...] = ()
    forward: Forward | None = None
    reply: ReplyTo | None = None
    #: a pin, a title change: not a statement, but proof the post number exists
    service: bool = False
    #: "Please open Telegram to view this post": the preview hides it (not deleted)
    hidden: bool = False

    @property
    def readable(self) -> bool:
        """Whether the page said anything about what the post is."""
        return bool(self.text or self.media or self.service or self.hidden or self.media_title)


@dataclass(frozen=True, slots=True)
class PreviewPage:
    """What one preview page holds."""

    posts: tuple[PreviewPost, ...]
    #: the channel's title from the page header, if found
    title: str = ""
    #: the number to ask ``?before=`` for older posts, when the page links to them
    before: int | None = None
    #: elements carrying ``data-post`` (read or not)
    blocks: int = 0
    #: the page has the message history section (an empty channel has it, with nothing in it)
    has_history: bool = False
    #: the page has a channel header (a preview, not some other page)
    has_channel_info: bool = False
    #: blocks that could not be read, one line each
    problems: tuple[str, ...] = ()
    #: the channel's numeric id from the blocks' ``data-view`` (it stays when the username
    #: changes hands: a different id is a different channel)
    chat_id: str | None = None

    def numbers(self) -> frozenset[int]:
        """Every post number the page shows in any form (posts, album items, hidden, service)."""
        return frozenset(n for p in self.posts for n in (p.numbers or (p.number,)))


def _is_number(text: str) -> bool:
    # "²".isdigit() is True, and int("²") raises: only ASCII digits are numbers here.
    return text.isascii() and text.isdigit() and len(text) <= 18


def _classes(el: HtmlElement) -> set[str]:
    return set((el.get("class") or "").split())


def _has(el: HtmlElement, cls: str) -> bool:
    return cls in _classes(el)


def _descendants(
    el: HtmlElement, cls: str, *, skip: frozenset[str] = frozenset()
) -> Iterator[HtmlElement]:
    """Elements under `el` with class `cls`, not looking inside elements with a class in `skip`."""
    stack = list(reversed([c for c in el if isinstance(c.tag, str)]))
    while stack:
        node = stack.pop()
        classes = _classes(node)
        if classes & skip:
            continue
        if cls in classes:
            yield node
        stack.extend(reversed([c for c in node if isinstance(c.tag, str)]))


def _first(el: HtmlElement, cls: str, *, skip: frozenset[str] = frozenset()) -> HtmlElement | None:
    return next(_descendants(el, cls, skip=skip), None)


#: subtrees that belong to another post (the reply's quote) or another page (a link preview)
_FOREIGN = frozenset({"tgme_widget_message_reply", "tgme_widget_message_link_preview"})


def _plain(el: HtmlElement | None) -> str:
    if el is None:
        return ""
    return _SPACE.sub(" ", "".join(el.itertext())).strip()


def _href_is_text(words: str, href: str) -> bool:
    """Whether the words shown already say where the link goes (a bare URL, an @mention)."""
    w = words.strip().rstrip("/").lower()
    h = href.strip().rstrip("/").lower()
    if not w:
        return True
    if w.startswith(("@", "#")):
        return True
    return h.endswith(w.removeprefix("https://").removeprefix("http://")) or w in h


def _text_of(el: HtmlElement) -> str:
    """The text of a message body: ``<br>`` and blocks become line breaks; a link keeps its words,
    and its target after them when the words do not show it."""
    out: list[str] = []

    def line_break() -> None:
        # A block starts or ends a line, once: after a <br> it adds no empty line.
        last = next((part for part in reversed(out) if part.strip(" \t")), "\n")
        if not last.endswith("\n"):
            out.append("\n")

    def walk(node: HtmlElement) -> None:
        if node.text:
            out.append(node.text)
        for child in node:
            if not isinstance(child.tag, str):  # comments, processing instructions
                if child.tail:
                    out.append(child.tail)
                continue
            tag = child.tag.lower()
            if tag == "br":
                out.append("\n")
            elif tag in ("script", "style"):
                pass
            else:
                block = tag in _BLOCK_TAGS
                if block:
                    line_break()
                walk(child)
                if tag == "a":
                    href = child.get("href") or ""
                    if href.startswith(("http://", "https://")) and not _href_is_text(
                        "".join(child.itertext()), href
                    ):
                        out.append(f" ({href})")
                if block:
                    line_break()
            if child.tail:
                out.append(child.tail)

    walk(el)
    lines = [_SPACE.sub(" ", line).strip() for line in "".join(out).split("\n")]
    # Runs of empty lines become one paragraph break.
    text = "\n".join(lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def _time(el: HtmlElement, date: HtmlElement | None) -> datetime | None:
    candidates = list(date.iter("time")) if date is not None else []
    if not candidates:
        # Some pages put the date elsewhere in the footer; only a <time datetime> dates a post
        # (a video's running time is a <time> without one).
        candidates = [t for t in el.iter("time") if t.get("datetime")]
    for t in candidates:
        value = t.get("datetime")
        if not value:
            continue
        try:
            when = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            continue
        return (when if when.tzinfo else when.replace(tzinfo=UTC)).astimezone(UTC)
    return None


def _post_link(href: str | None) -> tuple[str | None, int | None]:
    m = _POST_LINK.match(href or "")
    if m is None:
        return None, None
    return m.group("name"), int(m.group("n"))


def _single_number(href: str | None) -> int | None:
    """The item number of an album item's ``?single`` permalink."""
    if not href:
        return None
    _, n = _post_link(href)
    return n if n is not None and "single" in parse_qs(urlsplit(href).query, True) else None


_MEDIA_CLASSES: dict[str, MediaKind] = {
    "tgme_widget_message_photo_wrap": MediaKind.PHOTO,
    "tgme_widget_message_video_player": MediaKind.VIDEO,
    "tgme_widget_message_roundvideo_player": MediaKind.VIDEO,
    "tgme_widget_message_document_wrap": MediaKind.DOCUMENT,
    "tgme_widget_message_poll": MediaKind.POLL,
    "tgme_widget_message_voice_player": MediaKind.VOICE,
    "tgme_widget_message_sticker_wrap": MediaKind.STICKER,
    "tgme_widget_message_videosticker": MediaKind.STICKER,
    "tgme_widget_message_location_wrap": MediaKind.LOCATION,
}
#: the classes a post is read by: each one's first element is kept
_WANTED = frozenset(
    {
        "js-message_text",
        "tgme_widget_message_grouped_wrap",
        "message_media_not_supported",
        "tgme_widget_message_meta",
        "tgme_widget_message_from_author",
        "tgme_widget_message_date",
        "tgme_widget_message_forwarded_from",
        "tgme_widget_message_reply",
    }
)


@dataclass(slots=True)
class _Scan:
    """One walk over a post block: the first element of each wanted class, and the media in
    document order; the reply's quote and link previews are not looked into."""

    first: dict[str, HtmlElement]
    media: list[tuple[MediaKind, HtmlElement, bool]]


def _scan(el: HtmlElement) -> _Scan:
    first: dict[str, HtmlElement] = {}
    media: list[tuple[MediaKind, HtmlElement, bool]] = []
    # (node, inside an album)
    stack: list[tuple[HtmlElement, bool]] = [
        (c, False) for c in reversed(el) if isinstance(c.tag, str)
    ]
    while stack:
        node, in_album = stack.pop()
        classes = _classes(node)
        for cls in classes & _WANTED:
            first.setdefault(cls, node)
        if classes & _FOREIGN:
            continue
        for cls in classes:
            kind = _MEDIA_CLASSES.get(cls)
            if kind is not None:
                media.append((kind, node, in_album))
                break
        album = in_album or "tgme_widget_message_grouped_wrap" in classes
        stack.extend((c, album) for c in reversed(node) if isinstance(c.tag, str))
    return _Scan(first, media)


_BACKGROUND = re.compile(r"background-image\s*:\s*url\(\s*['\"]?([^'\")]+)['\"]?\s*\)")


def _photo_url(node: HtmlElement) -> str | None:
    """A photo's image URL: the preview shows it as the wrap's CSS background (issue 11)."""
    m = _BACKGROUND.search(node.get("style") or "")
    url = m.group(1).strip() if m else ""
    return url if url.startswith(("https://", "http://")) else None


def _photo_urls(scan: _Scan) -> tuple[str, ...]:
    """The URLs of the photos of a post (an album's, when it is one), in order."""
    in_album = [m for m in scan.media if m[2]]
    chosen = in_album or scan.media
    urls = (_photo_url(node) for kind, node, _ in chosen if kind is MediaKind.PHOTO)
    return tuple(u for u in urls if u)


def _media(
    scan: _Scan,
) -> tuple[tuple[MediaKind, ...], bool, tuple[int, ...], str, tuple[str, ...]]:
    """(media in order, album?, album item numbers, document/poll title, poll options)."""
    in_album = [m for m in scan.media if m[2]]
    album = bool(in_album)
    chosen = in_album if album else scan.media
    kinds: list[MediaKind] = []
    numbers: list[int] = []
    title = ""
    options: tuple[str, ...] = ()
    for kind, node, _ in chosen:
        kinds.append(kind)
        if kind is MediaKind.DOCUMENT:
            title = title or _plain(_first(node, "tgme_widget_message_document_title"))
        elif kind is MediaKind.POLL:
            title = title or _plain(_first(node, "tgme_widget_message_poll_question"))
            options = tuple(
                _plain(o) for o in _descendants(node, "tgme_widget_message_poll_option_text")
            )
        if album:
            n = _single_number(node.get("href"))
            if n is not None:
                numbers.append(n)
    return tuple(kinds), album, tuple(numbers), title, options


def _forward(box: HtmlElement | None) -> Forward | None:
    if box is None:
        return None
    name_el = _first(box, "tgme_widget_message_forwarded_from_name")
    name = _plain(name_el) or _plain(box).removeprefix("Forwarded from").strip()
    href = name_el.get("href") if name_el is not None else None
    username, number = _post_link(href)
    if username is None and href:
        m = _TME_LINK.match(href)
        username = m.group("name") if m and _USERNAME.fullmatch(m.group("name")) else None
    return Forward(name=name, username=username, number=number, url=href or None)


def _reply(box: HtmlElement | None, channel: str) -> ReplyTo | None:
    if box is None:
        return None
    href = box.get("href")
    username, number = _post_link(href)
    author = _plain(_first(box, "tgme_widget_message_author_name"))
    text_el = _first(box, "js-message_reply_text")
    if text_el is None:
        text_el = _first(box, "tgme_widget_message_metatext")
    return ReplyTo(
        number=number,
        username=username or channel,
        author=author,
        text=_text_of(text_el) if text_el is not None else "",
        url=href or None,
    )


def _post(el: HtmlElement) -> PreviewPost | str:
    """One message block, or a line saying why it cannot be read."""
    data_post = (el.get("data-post") or "").strip()
    channel, _, num = data_post.rpartition("/")
    if not channel or not _is_number(num):
        return f"data-post {data_post[:60]!r} is not channel/number"
    number = int(num)
    service = _has(el, "service_message")
    scan = _scan(el)
    body = scan.first.get("js-message_text")
    text = _text_of(body) if body is not None else ""
    text_html = (
        "".join(
            lxml.etree.tostring(c, encoding="unicode", method="html", with_tail=True)
            for c in body
        )
        if body is not None
        else ""
    )
    if body is not None and body.text:
        text_html = body.text + text_html
    media, album, numbers, media_title, options = _media(scan)
    placeholder = "message_media_not_supported" in scan.first
    hidden = placeholder and not text and not media and not service
    meta = scan.first.get("tgme_widget_message_meta")
    edited = meta is not None and "edited" in _plain(meta).lower().split()
    signature = _plain(scan.first.get("tgme_widget_message_from_author")) or None
    date = scan.first.get("tgme_widget_message_date")
    url = (date.get("href") if date is not None else None) or f"https://t.me/{channel}/{number}"
    published = _time(el, date)
    if published is None and not (service or hidden):
        return f"post {data_post}: no <time datetime>"
    return PreviewPost(
        channel=channel,
        number=number,
        url=url,
        published_at=published,
        text=text,
        text_html=text_html,
        edited=edited,
        signature=signature,
        media=media,
        album=album,
        photos=_photo_urls(scan),
        numbers=tuple(sorted({number, *numbers})),
        media_title=media_title,
        poll_options=options,
        forward=_forward(scan.first.get("tgme_widget_message_forwarded_from")),
        reply=_reply(scan.first.get("tgme_widget_message_reply"), channel),
        service=service,
        hidden=hidden,
    )


def parse_preview_page(body: bytes | str) -> PreviewPage:
    """Read every post block of a preview page, oldest first as served."""
    markup = body.decode("utf-8", errors="replace") if isinstance(body, bytes) else body
    if not markup.strip():
        return PreviewPage(posts=())
    try:
        # A plain tree (no per-element Python class lookup, as lxml.html would do): several
        # times faster on a page of twenty posts.
        # One parser per call: lxml parsers are not meant to be shared between threads.
        parser = lxml.etree.HTMLParser(recover=True, no_network=True, remove_comments=True)
        root = lxml.etree.fromstring(markup, parser)
    except (lxml.etree.ParserError, lxml.etree.XMLSyntaxError, ValueError):
        return PreviewPage(posts=(), problems=("not an HTML page",))
    if root is None:
        return PreviewPage(posts=(), problems=("not an HTML page",))
    posts: list[PreviewPost] = []
    problems: list[str] = []
    blocks = 0
    chat_id: str | None = None
    before: int | None = None
    title_el: HtmlElement | None = None
    has_history = False
    for el in root.iter():
        if not isinstance(el.tag, str):
            continue
        classes = _classes(el)
        if "tme_messages_more" in classes and before is None:
            value = el.get("data-before") or ""
            if not _is_number(value):
                value = parse_qs(urlsplit(el.get("href") or "").query).get("before", [""])[0]
            if _is_number(value):
                before = int(value)
        if "tgme_channel_info_header_title" in classes and title_el is None:
            title_el = el
        has_history = has_history or "tgme_channel_history" in classes
        if el.get("data-post") is None:
            continue
        if "tgme_widget_message" not in classes:
            # A post under a class we do not know: its number would look deleted.
            problems.append(f"data-post {el.get('data-post', '')[:60]!r} outside a known block")
            continue
        blocks += 1
        chat_id = chat_id or _chat_id(el.get("data-view"))
        read = _post(el)
        if isinstance(read, str):
            problems.append(read)
        else:
            posts.append(read)
    has_info = title_el is not None
    return PreviewPage(
        posts=tuple(posts),
        title=_plain(title_el),
        before=before,
        blocks=blocks,
        has_history=has_history,
        has_channel_info=has_info,
        problems=tuple(problems),
        chat_id=chat_id,
    )


def _chat_id(data_view: str | None) -> str | None:
    """The ``c`` of a block's ``data-view`` (base64url JSON), or None."""
    if not data_view:
        return None
    try:
        decoded = json.loads(base64.urlsafe_b64decode(data_view + "=" * (-len(data_view) % 4)))
    except (binascii.Error, ValueError):
        return None
    chat = decoded.get("c") if isinstance(decoded, dict) else None
    return str(chat) if isinstance(chat, int) and not isinstance(chat, bool) else None


def layout_problem(page: PreviewPage, size: int) -> str | None:
    """Why a 200 page cannot be trusted to show the channel's posts, or None.

    A preview of a channel that has posted nothing has the history section and no block; any
    other page without a readable post is a page we no longer understand — said, so that a
    changed layout is never read as "no new posts".
    """
    readable = [p for p in page.posts if p.readable]
    if readable:
        return None
    if page.blocks == 0 and page.has_history and page.has_channel_info and not page.problems:
        return None
    if page.blocks == 0:
        return f"no post found on a page of {size} bytes (has the preview's layout changed?)"
    why = "; ".join(page.problems[:3]) or "no text, no media"
    return (
        f"{page.blocks} post block(s) on the page, none readable "
        f"(has the preview's layout changed?): {why}"
    )


def post_json(post: PreviewPost) -> str:
    """The post as kept for evidence."""
    return json.dumps(
        {
            "post": f"{post.channel}/{post.number}",
            "url": post.url,
            "date": post.published_at.isoformat() if post.published_at else None,
            "html": post.text_html,
            "edited": post.edited,
            "signature": post.signature,
            "media": [m.value for m in post.media],
            "album": post.album,
            "numbers": list(post.numbers),
            "media_title": post.media_title,
            "poll_options": list(post.poll_options),
            "forwarded_from": (
                {
                    "name": post.forward.name,
                    "username": post.forward.username,
                    "url": post.forward.url,
                }
                if post.forward
                else None
            ),
            "reply_to": (
                {"number": post.reply.number, "author": post.reply.author, "url": post.reply.url}
                if post.reply
                else None
            ),
        },
        ensure_ascii=False,
        separators=(",", ":"),
    )


_MEDIA_WORDS = {
    MediaKind.PHOTO: ("Photo", "photos"),
    MediaKind.VIDEO: ("Video", "videos"),
    MediaKind.DOCUMENT: ("Document", "documents"),
    MediaKind.POLL: ("Poll", "polls"),
    MediaKind.VOICE: ("Voice message", "voice messages"),
    MediaKind.STICKER: ("Sticker", "stickers"),
    MediaKind.LOCATION: ("Location", "locations"),
}


def media_title(post: PreviewPost) -> str:
    """What the post carries, as a statement title: "Photo", "Album: 3 photos, 1 video",
    "Document: report.pdf", "Poll: question" ("" for text alone)."""
    if not post.media:
        return ""
    if post.album:
        counts: dict[MediaKind, int] = {}
        for m in post.media:
            counts[m] = counts.get(m, 0) + 1
        parts = [
            f"{n} {_MEDIA_WORDS[m][1] if n != 1 else _MEDIA_WORDS[m][0].lower()}"
            for m, n in counts.items()
        ]
        return "Album: " + ", ".join(parts)
    word = _MEDIA_WORDS[post.media[0]][0]
    return f"{word}: {post.media_title}" if post.media_title else word


def _ref_id(username: str | None, number: int | None, fallback: str) -> str:
    return f"{username.lower()}/{number}" if username and number is not None else fallback


def post_to_item(post: PreviewPost, channel: str, fetched_at: datetime) -> FetchedItem:
    """A readable post as a statement of the configured `channel` (its username, any case).

    The statement's identity is "channel/number" in lower case, whatever case the page writes:
    a forward names its origin the same way, so a forward of a watched channel's post is found
    to repeat it. A poll's text is its options (not the percentages, which move with each vote).
    """
    refs: list[Reference] = []
    kind = StatementKind.POST
    if post.forward is not None:
        fw = post.forward
        kind = StatementKind.REPOST
        refs.append(
            Reference(
                type="forwarded",
                external_id=_ref_id(fw.username, fw.number, fw.url or fw.name),
                author=fw.username or fw.name or None,
                url=fw.url,
            )
        )
    if post.reply is not None:
        rp = post.reply
        kind = StatementKind.REPLY if kind is StatementKind.POST else kind
        refs.append(
            Reference(
                type="replied_to",
                external_id=_ref_id(rp.username, rp.number, rp.url or ""),
                author=rp.username or rp.author or None,
                text=rp.text,
                url=rp.url,
            )
        )
    text = post.text
    if post.poll_options:
        options = "\n".join(f"• {o}" for o in post.poll_options)
        text = f"{text}\n\n{options}" if text else options
    return FetchedItem(
        external_id=f"{channel.lower()}/{post.number}",
        title=media_title(post),
        text=text,
        url=post.url,
        published_at=post.published_at or fetched_at,
        published_estimated=post.published_at is None,
        raw=post_json(post),
        kind=kind,
        author=post.signature,
        references=tuple(refs),
        photos=post.photos,
    )
