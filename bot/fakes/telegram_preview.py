"""A fake of Telegram's public channel preview (``t.me/s/CHANNEL``) on 127.0.0.1.

Serves channel pages the way t.me does, so that the real fetcher (httpx) and parser (lxml) run
against it unchanged. The markup is written here, modeled on saved real pages and the parsers
that read them; where each structure comes from:

- page skeleton, ``tgme_channel_info_header_title``, ``section.tgme_channel_history``,
  ``tme_messages_more`` with ``data-before`` and ``href="/s/NAME?before=N"``, ``<link rel="prev">``:
  PythonicCafe/tchan ``test_tchan.py`` (pages saved from t.me/s/tchantest), DIYgod/RSSHub
  ``lib/routes/telegram/channel.ts``;
- the message block: ``tgme_widget_message_wrap`` > ``tgme_widget_message text_not_supported_wrap
  js-widget_message`` with ``data-post="name/N"``, ``tgme_widget_message_bubble``,
  ``tgme_widget_message_owner_name``, ``js-message_text`` with ``<br/>`` paragraphs, ``<b>``,
  ``<a>`` links (with ``onclick="return confirm(...)"``) and hashtags as ``<a href="?q=%23tag">``,
  emoji as ``<i class="emoji"><b>…</b></i>``: Apkawa/rust-any2feed
  ``test_utils/src/fixtures/telegram_preview/message_text.html``, tchan ``test_tchan.py``;
- the footer: ``tgme_widget_message_views``, ``tgme_widget_message_meta`` holding "edited &nbsp;"
  before the date link, ``tgme_widget_message_from_author`` (signature) and
  ``a.tgme_widget_message_date > time[datetime]``: tchan ``test_parse_signed_edited_text_message``,
  any2feed ``message_with_from_author.html``;
- photos ``a.tgme_widget_message_photo_wrap`` (background-image), videos
  ``a.tgme_widget_message_video_player`` with a ``<time class="message_video_duration">`` (a
  ``<time>`` without datetime), documents ``a.tgme_widget_message_document_wrap`` >
  ``tgme_widget_message_document_title``, polls ``tgme_widget_message_poll`` with question and
  options (and percentages that change as votes come in): any2feed ``media_photo.html``,
  ``media_video.html``, ``message_media_file.html``, ``message_poll.html``;
- albums: ``tgme_widget_message_grouped_wrap js-message_grouped_wrap`` holding one block with one
  ``data-post`` whose items link to their own numbers with ``?single``; the next post's number
  skips the items: a real t.me/s/mchs_bryansk page quoted in a public test (posts 4656 → 4659),
  and the measurement notes on ``js-message_grouped_wrap`` in a public Telegram scraping manual;
- ``data-view``: base64url JSON ``{"c": -<channel id>, "p": <post>, "t": …, "h": …}`` on every
  block of a channel page (tchan ``test_tchan.py``: ``eyJjIjotMTU5MTUzNzY3NCwicCI6MSwi…`` is
  ``{"c":-1591537674,"p":1,…}``; the measurement notes: "identical across every message");
- forwards ``tgme_widget_message_forwarded_from`` > ``a.tgme_widget_message_forwarded_from_name``
  (href ``https://t.me/origin/N``): any2feed ``message_media_forwarded_from.html``;
- replies ``a.tgme_widget_message_reply`` (href of the replied-to post) >
  ``tgme_widget_message_author_name`` and ``tgme_widget_message_metatext js-message_reply_text``:
  tchan ``test_parse_text_reply_to_video``;
- service messages (pinned, name changed): ``service_message`` on the block, the text in
  ``js-message_text`` with ``tgme_widget_service_strong_text``: tchan
  ``test_parse_service_message_pinned`` / ``..._channel_name_changed``;
- "Please open Telegram to view this post": a block with only ``message_media_not_supported_wrap``
  > ``message_media_not_supported_label`` and a "VIEW IN TELEGRAM" link
  (``message_media_view_in_telegram``), no text; RSSHub calls a block with the placeholder and
  no ``media_supported_cont`` unsupported; the generic footer placeholder
  (``media_not_supported_cont``) also sits on ordinary posts, and means nothing there;
- no preview: ``/s/NAME`` of a channel that does not exist, is private, or disabled its preview
  (and of a group) answers **302** to ``https://t.me/NAME`` (measurement notes of a public
  Telegram scraping manual: "`/s/` not available (group, or nonexistent name) — Location:
  t.me/<name> ... 302"); RSSHub's docs say some channels are not available in ``t.me/s/``;
- a renamed channel: ``/s/OLD`` redirects to ``/s/NEW`` (modeled as the issue describes);
- rate limiting: 429 with ``Retry-After`` (the same notes: "Telegram is rate-limiting: HTTP 429");
- conditional requests: t.me sends no validators as far as those sources show; the fake sends an
  ETag only when told to (``send_etags``), to exercise the path.

The state is thread-safe; tests drive it with :meth:`post`, :meth:`edit`, :meth:`delete`,
:meth:`hide` and the fault switches.
"""

from __future__ import annotations

import base64
import hashlib
import html
import itertools
import json
import re
import threading
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

from bot.fakes.http import Request, Response

__all__ = ["FakePost", "FakePreview", "PreviewRequest", "render_page"]

#: blocks per page, as t.me serves them
PAGE_SIZE = 20
_HASHTAG = re.compile(r"(?<![\w&])#(\w+)")
_URL = re.compile(r"https?://[^\s<>\"]+")


@dataclass(frozen=True)
class FakePost:
    """One post of a fake channel."""

    number: int
    date: datetime
    #: the text as the channel wrote it ("\n" for line breaks), or ready HTML in `html`
    text: str = ""
    html: str | None = None
    edited: bool = False
    signature: str | None = None
    #: "photo", "video", "document", "poll"
    media: str | None = None
    #: items of an album (photos), 0 for none
    album: int = 0
    document: str = ""
    poll: tuple[str, tuple[str, ...]] | None = None
    #: (shown name, link of the original post or channel)
    forwarded: tuple[str, str | None] | None = None
    reply_to: int | None = None
    #: a service message's text ("pinned «…»", "Channel name was changed to «…»")
    service: str | None = None
    #: shown only as "Please open Telegram to view this post"
    hidden: bool = False
    deleted: bool = False


@dataclass
class _Channel:
    name: str
    title: str
    #: the channel's numeric id, carried in every block's ``data-view``
    chat_id: int = 0
    posts: list[FakePost] = field(default_factory=list)
    preview: bool = True
    renamed_to: str | None = None
    broken_layout: bool = False
    votes: int = 0


@dataclass(frozen=True)
class PreviewRequest:
    """One request the fake answered."""

    path: str
    before: int | None
    status: int
    user_agent: str | None
    if_none_match: str | None


def _text_html(text: str) -> str:
    """A post's text as the preview writes it: escaped, links and hashtags as anchors."""
    out = []
    for line in text.split("\n"):
        escaped = html.escape(line, quote=False)
        escaped = _URL.sub(
            lambda m: (
                f'<a href="{m.group(0)}" target="_blank" rel="noopener" '
                f"onclick=\"return confirm('Open this link?\\n\\n'+this.href);\">{m.group(0)}</a>"
            ),
            escaped,
        )
        escaped = _HASHTAG.sub(
            lambda m: f'<a href="?q={quote("#" + m.group(1))}">#{m.group(1)}</a>', escaped
        )
        out.append(escaped)
    return "<br/>".join(out)


def _media_html(ch: _Channel, p: FakePost) -> str:
    link = f"https://t.me/{ch.name}/{p.number}"
    cdn = "https://cdn4.telesco.pe/file/"
    if p.album:
        items = []
        for i in range(p.album):
            items.append(
                '<a class="tgme_widget_message_photo_wrap grouped_media_wrap blured '
                'js-message_photo" '
                f"style=\"left:0px;top:0px;width:200px;height:150px;background-image:url('{cdn}"
                f'a{p.number}_{i}.jpg\')" href="https://t.me/{ch.name}/{p.number + i}?single">'
                '<div class="grouped_media_helper"><div class="tgme_widget_message_photo '
                'grouped_media"></div></div></a>'
            )
        return (
            '<div class="media_supported_cont"><div class="tgme_widget_message_grouped_wrap '
            'js-message_grouped_wrap" data-margin-w="2" data-margin-h="2" style="width:453px;">'
            '<div class="tgme_widget_message_grouped js-message_grouped">'
            '<div class="tgme_widget_message_grouped_layer js-message_grouped_layer">'
            + "".join(items)
            + "</div></div></div></div>"
        )
    if p.media == "photo":
        return (
            f'<a class="tgme_widget_message_photo_wrap {p.number}" href="{link}" '
            f"style=\"width:800px;background-image:url('{cdn}p{p.number}.jpg')\">"
            '<div class="tgme_widget_message_photo" style="padding-top:71.75%"></div></a>'
        )
    if p.media == "video":
        return (
            f'<a class="tgme_widget_message_video_player blured js-message_video_player" '
            f'href="{link}"><i class="tgme_widget_message_video_thumb" '
            f"style=\"background-image:url('{cdn}v{p.number}.jpg')\"></i>"
            '<div class="tgme_widget_message_video_wrap"><video class="tgme_widget_message_video '
            f'js-message_video" src="{cdn}v{p.number}.mp4?token=x"></video></div>'
            '<div class="message_video_play js-message_video_play"></div>'
            '<time class="message_video_duration js-message_video_duration">0:42</time></a>'
        )
    if p.media == "document":
        return (
            f'<a class="tgme_widget_message_document_wrap" href="{link}">'
            '<div class="tgme_widget_message_document_icon accent_bg"></div>'
            '<div class="tgme_widget_message_document">'
            '<div class="tgme_widget_message_document_title accent_color" dir="auto">'
            f"{html.escape(p.document)}</div>"
            '<div class="tgme_widget_message_document_extra" dir="auto">2.1 MB</div></div></a>'
        )
    if p.media == "poll" and p.poll is not None:
        question, options = p.poll
        # The percentages move with every vote: a reader must not take them for the post's text.
        opts = "".join(
            '<div class="tgme_widget_message_poll_option">'
            f'<div class="tgme_widget_message_poll_option_percent">{(ch.votes * 7 + i * 13) % 100}%'
            '</div><div class="tgme_widget_message_poll_option_value">'
            f'<div class="tgme_widget_message_poll_option_text">{html.escape(o)}</div>'
            '<div class="tgme_widget_message_poll_option_bar accent_bg"></div></div></div>'
            for i, o in enumerate(options)
        )
        return (
            '<div class="tgme_widget_message_poll js-poll">'
            f'<div class="tgme_widget_message_poll_question">{html.escape(question)}</div>'
            '<div class="tgme_widget_message_poll_type">Anonymous Poll</div>'
            f'<a class="tgme_widget_message_poll_options" href="{link}">{opts}</a></div>'
        )
    return ""


def _reply_html(ch: _Channel, p: FakePost) -> str:
    if p.reply_to is None:
        return ""
    parent = next((q for q in ch.posts if q.number == p.reply_to), None)
    if parent is None or parent.deleted:
        quoted = "Deleted message"
    elif parent.html is not None:
        quoted = parent.html
    else:
        quoted = html.escape(parent.text.split("\n")[0][:120]) or "Photo"
    return (
        f'<a class="tgme_widget_message_reply" href="https://t.me/{ch.name}/{p.reply_to}">'
        '<div class="tgme_widget_message_author accent_color">'
        f'<span class="tgme_widget_message_author_name" dir="auto">{html.escape(ch.title)}</span>'
        "</div>"
        f'<div class="tgme_widget_message_metatext js-message_reply_text" dir="auto">{quoted}</div>'
        "</a>"
    )


def _data_view(ch: _Channel, p: FakePost) -> str:
    """``data-view``: base64url JSON naming the channel's numeric id (``c``) and the post."""
    raw = json.dumps(
        {"c": -ch.chat_id, "p": p.number, "t": int(p.date.timestamp()), "h": "0"},
        separators=(",", ":"),
    )
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _block_html(ch: _Channel, p: FakePost, *, broken: bool) -> str:
    post_id = f"{ch.name}/{p.number}"
    # A changed layout: the same content under class names the reader does not know.
    msg_cls = "tgme_message_v2" if broken else "tgme_widget_message"
    text_cls = "message_body_v2" if broken else "tgme_widget_message_text js-message_text"
    data = "data-id" if broken else "data-post"
    if p.hidden:
        return (
            f'<div class="tgme_widget_message_wrap js-widget_message_wrap"><div class="{msg_cls} '
            f'text_not_supported_wrap js-widget_message" {data}="{post_id}">'
            '<div class="tgme_widget_message_bubble"><div class="message_media_not_supported_wrap">'
            '<div class="message_media_not_supported">'
            '<div class="message_media_not_supported_label">'
            "Please open Telegram to view this post</div>"
            f'<a href="https://t.me/{post_id}" class="message_media_view_in_telegram">'
            "VIEW IN TELEGRAM</a></div></div></div></div></div>"
        )
    service = " service_message" if p.service is not None else ""
    body = p.html if p.html is not None else _text_html(p.text)
    if p.service is not None:
        body = (
            f'<span class="tgme_widget_service_strong_text" dir="auto">'
            f"{html.escape(p.service)}</span>"
        )
    forwarded = ""
    if p.forwarded is not None:
        name, href = p.forwarded
        inner = f'<span dir="auto">{html.escape(name)}</span>'
        anchor = (
            '<a class="tgme_widget_message_forwarded_from_name" '
            f'href="{html.escape(href)}">{inner}</a>'
            if href
            else f'<span class="tgme_widget_message_forwarded_from_name">{inner}</span>'
        )
        forwarded = (
            '<div class="tgme_widget_message_forwarded_from accent_color">'
            f"Forwarded from&nbsp;{anchor}</div>"
        )
    text = (
        f'<div class="{text_cls} before_footer" dir="auto">{body}'
        '<span style="display: inline-block; width: 104px;"></span></div>'
        if body
        else ""
    )
    meta = "edited &nbsp;" if p.edited else ""
    if p.signature:
        meta += (
            f'<span class="tgme_widget_message_from_author" dir="auto">'
            f"{html.escape(p.signature)}</span>,&nbsp;"
        )
    when = p.date.astimezone(UTC).isoformat(timespec="seconds")
    return (
        '<div class="tgme_widget_message_wrap js-widget_message_wrap">'
        f'<div class="{msg_cls} text_not_supported_wrap{service} js-widget_message" '
        f'{data}="{post_id}" data-view="{_data_view(ch, p)}">'
        f'<div class="tgme_widget_message_user"><a href="https://t.me/{ch.name}">'
        '<i class="tgme_widget_message_user_photo bgcolor3" data-content="M"></i></a></div>'
        '<div class="tgme_widget_message_bubble"><i class="tgme_widget_message_bubble_tail"></i>'
        '<div class="tgme_widget_message_author accent_color">'
        f'<a class="tgme_widget_message_owner_name" href="https://t.me/{ch.name}">'
        f'<span dir="auto">{html.escape(ch.title)}</span></a></div>'
        f"{forwarded}{_reply_html(ch, p)}{_media_html(ch, p)}{text}"
        # The generic placeholder every so often sits on ordinary posts too: it means nothing.
        '<div class="media_not_supported_cont"><div class="message_media_not_supported_wrap">'
        '<div class="message_media_not_supported"><div class="message_media_not_supported_label">'
        "Please open Telegram to view this post</div>"
        f'<a href="https://t.me/{post_id}" class="message_media_view_in_telegram">'
        "VIEW IN TELEGRAM</a></div></div></div>"
        '<div class="tgme_widget_message_footer compact js-message_footer">'
        '<div class="tgme_widget_message_info short js-message_info">'
        '<span class="tgme_widget_message_views">4.2K</span><span class="copyonly"> views</span>'
        f'<span class="tgme_widget_message_meta">{meta}<a class="tgme_widget_message_date" '
        f'href="https://t.me/{post_id}"><time datetime="{when}" class="time">'
        f"{p.date:%H:%M}</time></a></span></div></div></div></div></div>"
    )


def render_page(ch: _Channel, posts: list[FakePost], before: int | None) -> str:
    """One preview page: the header, then `posts` oldest first, with a link to older ones."""
    broken = ch.broken_layout
    more = ""
    prev = ""
    if before is not None:
        more = (
            '<div class="tgme_widget_message_centered js-messages_more_wrap">'
            f'<a href="/s/{ch.name}?before={before}" class="tme_messages_more js-messages_more" '
            f'data-before="{before}"></a></div>'
        )
        prev = f'<link rel="prev" href="/s/{ch.name}?before={before}">'
    blocks = "".join(_block_html(ch, p, broken=broken) for p in posts)
    title = html.escape(ch.title)
    history = "tgme_history_v2" if broken else "tgme_channel_history js-message_history"
    return (
        '<!DOCTYPE html><html><head><meta charset="utf-8">'
        f"<title>{title} – Telegram</title>"
        f'<link rel="canonical" href="https://t.me/s/{ch.name}">{prev}</head>'
        '<body class="widget_frame_base tgme_webpreview_body">'
        '<header class="tgme_header search_collapsed"><div class="tgme_header_title">'
        f"{title}</div></header>"
        '<main class="tgme_main"><div class="tgme_container"><div class="tgme_channel_info">'
        '<div class="tgme_channel_info_header">'
        f'<div class="tgme_channel_info_header_title"><span dir="auto">{title}</span></div>'
        '<div class="tgme_channel_info_header_username">'
        f'<a href="https://t.me/{ch.name}">@{ch.name}</a></div></div>'
        '<div class="tgme_channel_info_counters"><div class="tgme_channel_info_counter">'
        '<span class="counter_value">12.3K</span> <span class="counter_type">subscribers</span>'
        "</div></div></div>"
        f'<section class="{history}">{more}{blocks}</section>'
        "</div></main></body></html>"
    )


class FakePreview:
    """The channels of a fake t.me and its request handler; every method is thread-safe.

    Args:
        start: the date of the first post when :meth:`post` is given none.
    """

    def __init__(self, *, start: datetime | None = None) -> None:
        self._lock = threading.Lock()
        self._channels: dict[str, _Channel] = {}
        self._clock = itertools.count()
        self._ids = itertools.count(1_006_503_122)
        self._start = start or datetime(2020, 9, 27, 4, 0, tzinfo=UTC)
        self._fail: list[tuple[int, float | None]] = []
        self._etags = False
        self._log: list[PreviewRequest] = []

    # --- channels and posts -----------------------------------------------------------------

    def add_channel(self, name: str, title: str | None = None, *, preview: bool = True) -> None:
        """A public channel (`preview` False: it exists but shows no web preview)."""
        with self._lock:
            self._channels[name.lower()] = _Channel(
                name=name, title=title or name, chat_id=next(self._ids), preview=preview
            )

    def post(
        self,
        channel: str,
        text: str = "",
        *,
        html_text: str | None = None,
        at: datetime | None = None,
        media: str | None = None,
        album: int = 0,
        document: str = "",
        poll: tuple[str, tuple[str, ...]] | None = None,
        forwarded: tuple[str, str | None] | None = None,
        reply_to: int | None = None,
        signature: str | None = None,
        service: str | None = None,
        hidden: bool = False,
    ) -> int:
        """Publish a post; returns its number (an album takes one number per item)."""
        with self._lock:
            ch = self._channels[channel.lower()]
            number = ch.posts[-1].number + max(1, ch.posts[-1].album) if ch.posts else 1
            when = at or self._start + timedelta(minutes=next(self._clock))
            ch.posts.append(
                FakePost(
                    number=number,
                    date=when,
                    text=text,
                    html=html_text,
                    signature=signature,
                    media="poll" if poll else ("document" if document else media),
                    album=album,
                    document=document,
                    poll=poll,
                    forwarded=forwarded,
                    reply_to=reply_to,
                    service=service,
                    hidden=hidden,
                )
            )
            return number

    def _update(self, channel: str, number: int, **changes: object) -> None:
        with self._lock:
            ch = self._channels[channel.lower()]
            for i, p in enumerate(ch.posts):
                if p.number == number:
                    ch.posts[i] = replace(p, **changes)  # type: ignore[arg-type]
                    return
            raise KeyError(f"{channel}/{number}")

    def edit(self, channel: str, number: int, text: str) -> None:
        """Change a post's text; the preview marks it "edited"."""
        self._update(channel, number, text=text, html=None, edited=True)

    def delete(self, channel: str, number: int) -> None:
        """Delete a post: its number is gone from every page."""
        self._update(channel, number, deleted=True)

    def hide(self, channel: str, number: int, hidden: bool = True) -> None:
        """Show a post only as "Please open Telegram to view this post" (or show it again)."""
        self._update(channel, number, hidden=hidden)

    def vote(self, channel: str) -> None:
        """Votes come in: every poll's percentages move."""
        with self._lock:
            self._channels[channel.lower()].votes += 1

    def posts(self, channel: str) -> list[FakePost]:
        """Every post of `channel`, deleted ones included."""
        with self._lock:
            return list(self._channels[channel.lower()].posts)

    # --- faults -----------------------------------------------------------------------------

    def disable_preview(self, channel: str) -> None:
        """The channel turns its preview off (or goes private): /s/ redirects away."""
        with self._lock:
            self._channels[channel.lower()].preview = False

    def rename(self, old: str, new: str) -> None:
        """The channel takes a new username; the old preview redirects to the new one."""
        with self._lock:
            ch = self._channels.pop(old.lower())
            self._channels[new.lower()] = replace(ch, name=new)
            self._channels[old.lower()] = _Channel(name=old, title=ch.title, renamed_to=new)

    def take_over(self, name: str, title: str) -> None:
        """The username passes to another channel (a new id, its own posts from number 1)."""
        with self._lock:
            self._channels[name.lower()] = _Channel(name=name, title=title, chat_id=next(self._ids))

    def break_layout(self, channel: str, broken: bool = True) -> None:
        """Serve the channel's posts under class names no reader knows (a redesign)."""
        with self._lock:
            self._channels[channel.lower()].broken_layout = broken

    def fail_next(self, count: int, status: int = 429, retry_after: float | None = 30) -> None:
        """The next `count` requests get `status` (with Retry-After for 429)."""
        with self._lock:
            self._fail.extend([(status, retry_after)] * count)

    def send_etags(self, on: bool = True) -> None:
        """Answer with an ETag and honour If-None-Match (t.me itself is not known to)."""
        with self._lock:
            self._etags = on

    def requests(self) -> list[PreviewRequest]:
        """Every request answered, in order."""
        with self._lock:
            return list(self._log)

    # --- the handler --------------------------------------------------------------------------

    def handle(self, request: Request) -> Response:
        """Answer one request; use with :class:`bot.fakes.http.LocalServer`."""
        with self._lock:
            response = self._respond(request)
            before = request.query_one("before") or ""
            self._log.append(
                PreviewRequest(
                    path=request.path,
                    before=int(before) if before.isascii() and before.isdigit() else None,
                    status=response.status,
                    user_agent=request.headers.get("User-Agent"),
                    if_none_match=request.headers.get("If-None-Match"),
                )
            )
        return response

    def _respond(self, request: Request) -> Response:
        if self._fail:
            status, retry_after = self._fail.pop(0)
            headers = [("Retry-After", f"{retry_after:g}")] if retry_after is not None else []
            return Response.text(
                "Too Many Requests" if status == 429 else "error", status, headers=headers
            )
        host = request.headers.get("Host", "t.me")
        parts = [p for p in request.path.split("/") if p]
        if len(parts) == 2 and parts[0] == "s":
            return self._preview(request, parts[1], host)
        if len(parts) == 1:
            # The landing card: t.me/NAME answers 200 whether or not the name exists.
            ch = self._channels.get(parts[0].lower())
            word = "View" if ch is not None and ch.renamed_to is None else "Contact"
            return Response.text(
                f"<html><head><title>Telegram: {word} @{html.escape(parts[0])}</title></head>"
                '<body><div class="tgme_page_wrap"></div></body></html>',
                content_type="text/html; charset=utf-8",
            )
        return Response.text("not found", 404)

    def _preview(self, request: Request, name: str, host: str) -> Response:
        ch = self._channels.get(name.lower())
        if ch is not None and ch.renamed_to is not None:
            query = f"?{request.target.split('?', 1)[1]}" if "?" in request.target else ""
            return Response.empty(302, [("Location", f"http://{host}/s/{ch.renamed_to}{query}")])
        if ch is None or not ch.preview:
            # No such channel, a private one, or its preview is off: t.me sends the reader to the
            # channel's card, indistinguishably.
            return Response.empty(302, [("Location", f"http://{host}/{name}")])
        before_q = request.query_one("before")
        before = int(before_q) if before_q and before_q.isascii() and before_q.isdigit() else None
        live = [p for p in ch.posts if not p.deleted]
        older = [p for p in live if before is None or p.number < before]
        page = older[-PAGE_SIZE:]
        more = page[0].number if page and len(older) > len(page) else None
        body = render_page(ch, page, more).encode("utf-8")
        headers = [("Content-Type", "text/html; charset=utf-8"), ("Cache-Control", "no-store")]
        if self._etags:
            etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
            headers.append(("ETag", etag))
            if request.headers.get("If-None-Match") == etag:
                return Response.empty(304, headers)
        return Response(200, headers, body)
