"""A strict fake of the Telegram Bot API server, for the real python-telegram-bot client.

Point the client at it with ``Bot(token, base_url=f"{server.url}/bot")``; requests arrive as
``POST /bot<token>/<method>`` with form-encoded (or multipart, or JSON) parameters, and answers
use the real envelopes (``{"ok":true,"result":...}`` and ``{"ok":false,"error_code":...,
"description":...,"parameters":...}``), with descriptions taken from the official server.

Supported methods: ``getMe``, ``sendMessage``, ``sendPhoto``, ``sendMediaGroup`` (photos by
URL), ``editMessageText``, ``deleteMessage``; ``message_thread_id`` in forum supergroups
(:meth:`FakeTelegram.add_chat` with ``forum=True``). Text is
parsed with :func:`bot.tghtml.parse_tg_html` exactly as the server parses ``parse_mode=HTML``;
plain text (no parse mode) is taken as is. Known gaps, on purpose: Markdown parse modes answer
``unsupported parse_mode``, URLs in plain text do not become ``url`` entities, and no flood
control happens unless injected with :meth:`FakeTelegram.fail_next` or asked for with
``chat_interval``: then a message or edit to a chat sooner than that after the previous one is
answered 429 with ``retry_after``, as Telegram does to a bot posting too fast to one chat.
"""

from __future__ import annotations

import json
import math
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any
from urllib.parse import parse_qsl

from bot.fakes.http import Request, Response
from bot.tghtml import TgEntity, TgHtmlError, parse_tg_html, utf16_len

__all__ = ["ApiCall", "Edit", "FakeTelegram", "SentMessage"]

#: The Bot API's limit on a message's text, in UTF-16 code units after entity parsing.
MAX_TEXT_LENGTH = 4096
#: sendPhoto's and InputMediaPhoto's caption: "0-1024 characters after entities parsing"
#: (api.json in ../shared/corpus/telegram/telegram-bot-api-spec)
MAX_CAPTION_LENGTH = 1024
#: sendMediaGroup's media "must include 2-10 items" (api.json)
ALBUM_SIZES = range(2, 11)

_TOKEN_SHAPE = re.compile(r"[1-9][0-9]*:[A-Za-z0-9_-]+")
_NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup are "
    "exactly the same as a current content and reply markup of the message"
)
# What the proxy in front of the real server sends for a 502: HTML, not JSON.
_BAD_GATEWAY_PAGE = (
    b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    b"<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n"
    b"</body>\r\n</html>\r\n"
)
_DESCRIPTIONS: Mapping[int, str] = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    409: "Conflict: terminated by other getUpdates request",
    500: "Internal Server Error",
    503: "Service Unavailable",
}
_TRIM = " \t\r\n\x0b\x0c"


@dataclass(frozen=True, slots=True)
class Edit:
    """One successful editMessageText of a sent message."""

    html: str
    text: str
    entities: tuple[TgEntity, ...]
    date: int


@dataclass(frozen=True, slots=True)
class SentMessage:
    """A message the fake accepted, as a test wants to inspect it."""

    #: the chat_id exactly as the client gave it ("@example_channel" or "-1001234567890")
    chat: str
    chat_id: int
    message_id: int
    #: the text parameter as sent (Telegram HTML when parse_mode was HTML)
    html: str
    #: the plain text the server made of it
    text: str
    entities: tuple[TgEntity, ...]
    parse_mode: str | None
    disable_notification: bool
    link_preview_disabled: bool
    reply_to: int | None
    date: int
    edits: tuple[Edit, ...] = ()
    deleted: bool = False
    #: the forum topic it was posted in
    thread_id: int | None = None
    #: the photo's URL, for a photo message (`html`/`text` are then its caption)
    photo: str | None = None
    #: shared by the messages of one album
    media_group_id: str | None = None

    @property
    def current_html(self) -> str:
        """The HTML of the latest version (after edits)."""
        return self.edits[-1].html if self.edits else self.html

    @property
    def current_text(self) -> str:
        """The plain text of the latest version (after edits)."""
        return self.edits[-1].text if self.edits else self.text


@dataclass(frozen=True, slots=True)
class ApiCall:
    """One request the fake answered: method, parameters and HTTP status."""

    method: str
    params: Mapping[str, str]
    status: int
    description: str | None


@dataclass(slots=True)
class _Chat:
    id: int
    type: str
    title: str
    username: str | None
    next_message_id: int = 1
    migrated_to: int | None = None
    forbidden: bool = False
    #: a forum supergroup, and its topics' message_thread_ids
    forum: bool = False
    threads: set[int] = field(default_factory=set)

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "title": self.title}
        if self.username:
            out["username"] = self.username
        out["type"] = self.type
        if self.forum:
            out["is_forum"] = True
        return out


@dataclass(slots=True)
class _Injected:
    remaining: int
    status: int
    retry_after: int | None
    description: str | None
    method: str | None


class _ApiError(Exception):
    def __init__(
        self,
        status: int,
        description: str,
        parameters: Mapping[str, int] | None = None,
    ) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.parameters = dict(parameters) if parameters else None


def _bad(description: str) -> _ApiError:
    return _ApiError(400, f"Bad Request: {description}")


@dataclass
class _Params:
    values: dict[str, str] = field(default_factory=dict)

    def get(self, name: str) -> str | None:
        return self.values.get(name)

    def flag(self, name: str) -> bool:
        # The server reads "true" and "1" as true, anything else as false.
        value = self.values.get(name, "")
        return value.lower() == "true" or value == "1"

    def json_object(self, name: str, what: str) -> dict[str, Any] | None:
        raw = self.values.get(name)
        if raw is None or raw == "":
            return None
        try:
            value = json.loads(raw)
        except ValueError:
            raise _bad(f"can't parse {what} JSON object") from None
        if not isinstance(value, dict):
            raise _bad(f"object expected as {what}")
        return value


def _parse_params(request: Request) -> _Params:
    values = {k: v[-1] for k, v in request.query.items()}
    content_type = request.headers.get("Content-Type", "").lower()
    body = request.body
    if not body:
        return _Params(values)
    if content_type.startswith("application/json"):
        try:
            decoded = json.loads(body)
        except ValueError:
            raise _bad("can't parse JSON encoded request") from None
        if isinstance(decoded, dict):
            for key, value in decoded.items():
                if isinstance(value, str):
                    values[key] = value
                elif isinstance(value, bool):
                    values[key] = "true" if value else "false"
                elif value is not None:
                    values[key] = json.dumps(value)
    elif content_type.startswith("multipart/form-data"):
        head = f"Content-Type: {request.headers.get('Content-Type')}\r\n\r\n".encode()
        message = BytesParser(policy=HTTP).parsebytes(head + body)
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            payload = part.get_payload(decode=True)
            if isinstance(name, str) and isinstance(payload, bytes):
                values[name] = payload.decode("utf-8", "replace")
    else:
        text = body.decode("utf-8", "replace")
        values.update(dict(parse_qsl(text, keep_blank_values=True)))
    return _Params(values)


def _entity_json(entity: TgEntity) -> dict[str, Any]:
    out: dict[str, Any] = {"offset": entity.offset, "length": entity.length, "type": entity.type}
    if entity.url is not None:
        out["url"] = entity.url
    if entity.language:
        out["language"] = entity.language
    if entity.custom_emoji_id is not None:
        out["custom_emoji_id"] = entity.custom_emoji_id
    if entity.user_id is not None:
        out["user"] = {"id": entity.user_id, "is_bot": False, "first_name": "User"}
    return out


def _entity_from_json(value: Any) -> TgEntity:
    if not isinstance(value, dict):
        raise _bad("can't parse MessageEntity JSON object")
    try:
        user = value.get("user")
        return TgEntity(
            type=str(value["type"]),
            offset=int(value["offset"]),
            length=int(value["length"]),
            url=value.get("url"),
            language=value.get("language"),
            custom_emoji_id=value.get("custom_emoji_id"),
            user_id=int(user["id"]) if isinstance(user, dict) else None,
        )
    except (KeyError, TypeError, ValueError):
        raise _bad("can't parse MessageEntity JSON object") from None


def _trim(text: str, entities: tuple[TgEntity, ...]) -> tuple[str, tuple[TgEntity, ...]]:
    """Strip whitespace at both ends, as the server does, keeping entities on their text."""
    stripped = text.strip(_TRIM)
    if stripped == text:
        return text, entities
    left = utf16_len(text[: len(text) - len(text.lstrip(_TRIM))])
    end = left + utf16_len(stripped)
    kept: list[TgEntity] = []
    for e in entities:
        start, stop = max(e.offset, left), min(e.offset + e.length, end)
        if stop > start:
            kept.append(replace(e, offset=start - left, length=stop - start))
    return stripped, tuple(kept)


class FakeTelegram:
    """The state of a fake Bot API server and its request handler; thread-safe.

    Args:
        tokens: the bot tokens the server accepts.
        chats: chats the bot may post to, as ``{"@username" or title: chat id}``; they are
            channels (add groups with :meth:`add_chat`).
        clock: seconds since the epoch, for message dates.
        chat_interval: the least seconds between two posts (messages or edits) to one chat;
            0 lets any pace through.
        monotonic: the clock `chat_interval` is measured with.
    """

    def __init__(
        self,
        tokens: Iterable[str] = ("123:ABC",),
        chats: Mapping[str, int] | None = None,
        *,
        clock: Callable[[], float] = time.time,
        chat_interval: float = 0.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._tokens = frozenset(tokens)
        self._clock = clock
        self._chat_interval = chat_interval
        self._monotonic = monotonic
        self._last_post: dict[int, float] = {}
        self._lock = threading.Lock()
        self._chats: dict[int, _Chat] = {}
        self._sent: list[SentMessage] = []
        self._index: dict[tuple[int, int], int] = {}
        self._injected: list[_Injected] = []
        self._calls: list[ApiCall] = []
        self._refused_photos: dict[str, str] = {}
        self._next_group = 1
        for key, chat_id in (chats or {"@example_channel": -1001234567890}).items():
            self.add_chat(key, chat_id)

    # --- setup and injected failures ------------------------------------------------------

    def add_chat(
        self,
        key: str,
        chat_id: int,
        *,
        type: str = "channel",
        title: str | None = None,
        threads: Iterable[int] | None = None,
    ) -> None:
        """Let the bot post to chat `chat_id`, known as `key` ("@username" or a title).

        `threads` makes it a forum supergroup with these topics (message_thread_id)."""
        username = key[1:] if key.startswith("@") else None
        with self._lock:
            chat = _Chat(chat_id, type, title or (username or key).replace("_", " "), username)
            if threads is not None:
                chat.type, chat.forum, chat.threads = "supergroup", True, set(threads)
            self._chats[chat_id] = chat

    def refuse_photo(
        self, url: str, description: str = "Bad Request: failed to get HTTP URL content"
    ) -> None:
        """Make a photo URL fail as Telegram answers when it cannot download it (WEBPAGE_CURL_
        FAILED, error_catalog.tsv) or it is too big ("wrong file identifier/HTTP URL
        specified", TDLib's answer for an oversized file by URL; not in the catalog)."""
        with self._lock:
            self._refused_photos[url] = description

    def fail_next(
        self,
        n: int = 1,
        *,
        status: int = 429,
        retry_after: int = 3,
        description: str | None = None,
        method: str | None = None,
    ) -> None:
        """Fail the next `n` calls (of `method`, or any) with `status`.

        429 gives the real flood envelope with ``parameters.retry_after`` and a ``Retry-After``
        header; 502 gives the proxy's HTML page; other statuses a JSON error with `description`.
        """
        with self._lock:
            self._injected.append(
                _Injected(n, status, retry_after if status == 429 else None, description, method)
            )

    def migrate(self, chat: str | int, new_chat_id: int) -> None:
        """Make `chat` answer "group chat was upgraded" pointing at `new_chat_id` (now known)."""
        with self._lock:
            old = self._known(chat)
            old.migrated_to = new_chat_id
            self._chats[new_chat_id] = _Chat(new_chat_id, "supergroup", old.title, None)

    def forbid(self, chat: str | int, forbidden: bool = True) -> None:
        """Make `chat` answer 403 "bot was kicked" (or allow it again)."""
        with self._lock:
            self._known(chat).forbidden = forbidden

    # --- inspection -----------------------------------------------------------------------

    def messages(self, chat: str | int | None = None) -> list[SentMessage]:
        """Messages accepted so far, oldest first; `chat` matches the key given, id or @username."""
        with self._lock:
            if chat is None:
                return list(self._sent)
            wanted = str(chat)
            out = []
            for m in self._sent:
                known = self._chats.get(m.chat_id)
                names = {m.chat, str(m.chat_id)}
                if known is not None and known.username:
                    names.add("@" + known.username)
                if wanted in names:
                    out.append(m)
            return out

    def calls(self, method: str | None = None) -> list[ApiCall]:
        """Every request answered (successes and errors), oldest first."""
        with self._lock:
            return [c for c in self._calls if method is None or c.method.lower() == method.lower()]

    # --- the handler ----------------------------------------------------------------------

    def handle(self, request: Request) -> Response:
        """Answer one Bot API request; use with :class:`bot.fakes.http.LocalServer`."""
        match = re.fullmatch(r"/bot([^/]*)/([^/]*)", request.path)
        if match is None:
            return self._error_response(_ApiError(404, "Not Found"))
        token, method = match.groups()
        params = _Params()
        try:
            params = _parse_params(request)
            with self._lock:
                result = self._dispatch(token, method, params)
        except _ApiError as err:
            self._log(method, params, err.status, err.description)
            return self._error_response(err)
        self._log(method, params, 200, None)
        return Response.json({"ok": True, "result": result})

    def _log(self, method: str, params: _Params, status: int, description: str | None) -> None:
        with self._lock:
            self._calls.append(ApiCall(method, dict(params.values), status, description))

    @staticmethod
    def _error_response(err: _ApiError) -> Response:
        if err.status == 502:
            return Response(502, [("Content-Type", "text/html")], _BAD_GATEWAY_PAGE)
        body: dict[str, Any] = {
            "ok": False,
            "error_code": err.status,
            "description": err.description,
        }
        headers: list[tuple[str, str]] = []
        if err.parameters:
            body["parameters"] = err.parameters
            if "retry_after" in err.parameters:
                headers.append(("Retry-After", str(err.parameters["retry_after"])))
        return Response.json(body, err.status, headers)

    def _dispatch(self, token: str, method: str, params: _Params) -> Any:
        if not token or _TOKEN_SHAPE.fullmatch(token) is None:
            raise _ApiError(401, "Unauthorized: invalid token specified")
        if token not in self._tokens:
            raise _ApiError(401, "Unauthorized")
        handler = self._METHODS.get(method.lower())  # method names are case-insensitive
        if handler is None:
            raise _ApiError(404, "Not Found: method not found")
        self._take_injected(method)
        return handler(self, token, params)

    def _take_injected(self, method: str) -> None:
        for rule in self._injected:
            if rule.method is not None and rule.method.lower() != method.lower():
                continue
            rule.remaining -= 1
            if rule.remaining <= 0:
                self._injected.remove(rule)
            if rule.status == 429:
                seconds = rule.retry_after or 1
                raise _ApiError(
                    429, f"Too Many Requests: retry after {seconds}", {"retry_after": seconds}
                )
            description = rule.description or _DESCRIPTIONS.get(rule.status, "Error")
            raise _ApiError(rule.status, description)

    # --- chats and messages ---------------------------------------------------------------

    def _known(self, chat: str | int) -> _Chat:
        try:
            return self._find(str(chat))
        except _ApiError:
            raise KeyError(f"unknown chat {chat!r}") from None

    def _find(self, key: str) -> _Chat:
        if key.startswith("@"):
            wanted = key[1:].lower()
            for chat in self._chats.values():
                if chat.username and chat.username.lower() == wanted:
                    return chat
            raise _bad("chat not found")
        try:
            chat_id = int(key)
        except ValueError:
            raise _bad("chat not found") from None
        found = self._chats.get(chat_id)
        if found is None:
            raise _bad("chat not found")
        return found

    def _usable_chat(self, params: _Params) -> tuple[str, _Chat]:
        key = params.get("chat_id")
        if not key:
            raise _bad("chat_id is empty")
        chat = self._find(key)
        if chat.migrated_to is not None:
            raise _ApiError(
                400,
                "Bad Request: group chat was upgraded to a supergroup chat",
                {"migrate_to_chat_id": chat.migrated_to},
            )
        if chat.forbidden:
            raise _ApiError(403, f"Forbidden: bot was kicked from the {chat.type} chat")
        return key, chat

    def _flood_check(self, chat: _Chat, items: int = 1) -> None:
        """Refuse a post that comes too soon after the chat's previous one (when paced).

        An album of `items` photos is that many messages: the chat's next post may come only
        `items` intervals later (Telegram counts every message of an album against the limit).
        """
        if self._chat_interval <= 0:
            return
        now = self._monotonic()
        ready = self._last_post.get(chat.id)
        # a microsecond of slack: a client that waits exactly the interval is on time
        if ready is not None and now < ready - 1e-6:
            seconds = max(1, math.ceil(ready - now))
            raise _ApiError(
                429, f"Too Many Requests: retry after {seconds}", {"retry_after": seconds}
            )
        self._last_post[chat.id] = now + self._chat_interval * items

    def _message_id(self, params: _Params) -> int:
        raw = params.get("message_id")
        if not raw:
            raise _bad("message identifier is not specified")
        try:
            return int(raw)
        except ValueError:
            raise _bad("message identifier must be a Number") from None

    @staticmethod
    def _text(params: _Params) -> tuple[str, str, tuple[TgEntity, ...], str | None]:
        """The text as sent, the plain text and entities, and the parse mode used."""
        raw = params.get("text") or ""
        parse_mode = params.get("parse_mode") or None
        if parse_mode is not None and parse_mode.lower() == "html":
            try:
                parsed = parse_tg_html(raw)
            except TgHtmlError as exc:
                raise _bad(f"can't parse entities: {exc}") from None
            text, entities = parsed.text, parsed.entities
        elif parse_mode is not None:
            raise _bad("unsupported parse_mode")
        else:
            text = raw
            given = params.get("entities")
            entities = ()
            if given:
                try:
                    decoded = json.loads(given)
                except ValueError:
                    raise _bad("can't parse entities JSON object") from None
                if not isinstance(decoded, list):
                    raise _bad("can't parse entities JSON object")
                entities = tuple(_entity_from_json(e) for e in decoded)
        text, entities = _trim(text, entities)
        if not text:
            raise _bad("message text is empty")
        if utf16_len(text) > MAX_TEXT_LENGTH:
            raise _bad("message is too long")
        return raw, text, entities, parse_mode

    @staticmethod
    def _caption(
        raw: str, parse_mode: str | None, given: str | None
    ) -> tuple[str, tuple[TgEntity, ...]]:
        """A caption's plain text and entities; it may be empty, and is at most 1,024 long."""
        if parse_mode is not None and parse_mode.lower() == "html":
            try:
                parsed = parse_tg_html(raw)
            except TgHtmlError as exc:
                raise _bad(f"can't parse entities: {exc}") from None
            text, entities = parsed.text, parsed.entities
        elif parse_mode is not None:
            raise _bad("unsupported parse_mode")
        else:
            text, entities = raw, ()
            if given:
                try:
                    decoded = json.loads(given) if isinstance(given, str) else given
                except ValueError:
                    raise _bad("can't parse entities JSON object") from None
                if not isinstance(decoded, list):
                    raise _bad("can't parse entities JSON object")
                entities = tuple(_entity_from_json(e) for e in decoded)
        text, entities = _trim(text, entities)
        if utf16_len(text) > MAX_CAPTION_LENGTH:
            # TDLib's MEDIA_CAPTION_TOO_LONG as the Bot API words it (not in the catalog)
            raise _bad("message caption is too long")
        return text, entities

    def _thread(self, params: _Params, chat: _Chat) -> int | None:
        """The forum topic to post in: message_thread_id is "for forum supergroups ... only"
        (api.json); an unknown one is "message thread not found" (Client.cpp:8277)."""
        raw = params.get("message_thread_id")
        if raw is None or raw in ("", "0"):
            return None
        try:
            thread = int(raw)
        except ValueError:
            raise _bad("message thread not found") from None
        if not chat.forum or thread not in chat.threads:
            raise _bad("message thread not found")
        return thread

    def _photo_url(self, value: Any) -> str:
        """A photo given by URL: a refused one answers as Telegram does; anything else is
        taken for a file_id, which this fake never issued."""
        if not isinstance(value, str) or not value:
            raise _bad("there is no photo in the request")
        refused = self._refused_photos.get(value)
        if refused is not None:
            raise _ApiError(400, refused)
        if not value.startswith(("http://", "https://")):
            raise _bad("wrong file identifier/HTTP URL specified")
        return value

    def _record(self, sent: SentMessage, chat: _Chat) -> SentMessage:
        chat.next_message_id += 1
        self._index[(chat.id, sent.message_id)] = len(self._sent)
        self._sent.append(sent)
        return sent

    def _link_preview_disabled(self, params: _Params) -> bool:
        options = params.json_object("link_preview_options", "link preview options")
        if options is not None:
            return bool(options.get("is_disabled"))
        return params.flag("disable_web_page_preview")

    def _reply_target(self, params: _Params, chat: _Chat) -> int | None:
        reply = params.json_object("reply_parameters", "reply parameters")
        allow_missing = params.flag("allow_sending_without_reply")
        if reply is not None:
            target = reply.get("message_id")
            allow_missing = bool(reply.get("allow_sending_without_reply", allow_missing))
        else:
            target = params.get("reply_to_message_id")
        if target is None or target in ("", 0, "0"):
            return None
        try:
            message_id = int(target)
        except (TypeError, ValueError):
            raise _bad("message identifier must be a Number") from None
        found = self._index.get((chat.id, message_id))
        if found is None or self._sent[found].deleted:
            if allow_missing:
                return None
            raise _bad("message to be replied not found")
        return message_id

    def _message_json(self, sent: SentMessage, *, with_reply: bool = True) -> dict[str, Any]:
        chat = self._chats[sent.chat_id]
        text, entities = sent.text, sent.entities
        if sent.edits:
            text, entities = sent.edits[-1].text, sent.edits[-1].entities
        out: dict[str, Any] = {"message_id": sent.message_id}
        if chat.type == "channel":
            out["sender_chat"] = chat.as_json()
        else:
            out["from"] = self._me(self._any_token())
        out["chat"] = chat.as_json()
        out["date"] = sent.date
        if sent.thread_id is not None:
            out["message_thread_id"] = sent.thread_id
            out["is_topic_message"] = True
        if sent.media_group_id is not None:
            out["media_group_id"] = sent.media_group_id
        if with_reply and sent.reply_to is not None:
            replied = self._index.get((sent.chat_id, sent.reply_to))
            if replied is not None:
                out["reply_to_message"] = self._message_json(self._sent[replied], with_reply=False)
        if sent.edits:
            out["edit_date"] = sent.edits[-1].date
        if sent.photo is not None:
            unique = f"ph{sent.chat_id}_{sent.message_id}".replace("-", "")
            out["photo"] = [
                {"file_id": f"AgAC{unique}", "file_unique_id": unique, "width": 1280, "height": 960}
            ]
            if text:
                out["caption"] = text
            if entities:
                out["caption_entities"] = [_entity_json(e) for e in entities]
            return out
        out["text"] = text
        if entities:
            out["entities"] = [_entity_json(e) for e in entities]
        if sent.link_preview_disabled:
            out["link_preview_options"] = {"is_disabled": True}
        return out

    def _any_token(self) -> str:
        return min(self._tokens) if self._tokens else "1:x"

    @staticmethod
    def _me(token: str) -> dict[str, Any]:
        return {
            "id": int(token.split(":", 1)[0]),
            "is_bot": True,
            "first_name": "Watchpost Test",
            "username": "watchpost_test_bot",
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    # --- methods (called with the lock held) ----------------------------------------------

    def _get_me(self, token: str, params: _Params) -> Any:
        return self._me(token)

    def _send_message(self, token: str, params: _Params) -> Any:
        key, chat = self._usable_chat(params)
        raw, text, entities, parse_mode = self._text(params)
        link_preview_disabled = self._link_preview_disabled(params)
        reply_to = self._reply_target(params, chat)
        thread = self._thread(params, chat)
        self._flood_check(chat)
        sent = SentMessage(
            chat=key,
            chat_id=chat.id,
            message_id=chat.next_message_id,
            html=raw,
            text=text,
            entities=entities,
            parse_mode=parse_mode,
            disable_notification=params.flag("disable_notification"),
            link_preview_disabled=link_preview_disabled,
            reply_to=reply_to,
            date=int(self._clock()),
            thread_id=thread,
        )
        return self._message_json(self._record(sent, chat))

    def _send_photo(self, token: str, params: _Params) -> Any:
        key, chat = self._usable_chat(params)
        raw = params.get("caption") or ""
        parse_mode = params.get("parse_mode") or None
        text, entities = self._caption(raw, parse_mode, params.get("caption_entities"))
        reply_to = self._reply_target(params, chat)
        thread = self._thread(params, chat)
        photo = self._photo_url(params.get("photo"))
        self._flood_check(chat)
        sent = SentMessage(
            chat=key,
            chat_id=chat.id,
            message_id=chat.next_message_id,
            html=raw,
            text=text,
            entities=entities,
            parse_mode=parse_mode,
            disable_notification=params.flag("disable_notification"),
            link_preview_disabled=False,
            reply_to=reply_to,
            date=int(self._clock()),
            thread_id=thread,
            photo=photo,
        )
        return self._message_json(self._record(sent, chat))

    def _send_media_group(self, token: str, params: _Params) -> Any:
        key, chat = self._usable_chat(params)
        raw_media = params.get("media")
        try:
            media = json.loads(raw_media) if raw_media else None
        except ValueError:
            raise _bad("can't parse media JSON object") from None
        if not isinstance(media, list):
            raise _bad("expected an Array of InputMedia")
        if len(media) not in ALBUM_SIZES:
            # api.json: "must include 2-10 items"; the wording is this fake's own
            raise _bad(f"album must have 2-10 items, got {len(media)}")
        items: list[tuple[str, str, str, tuple[TgEntity, ...], str | None]] = []
        for item in media:
            if not isinstance(item, dict):
                raise _bad("can't parse InputMedia JSON object")
            if item.get("type") != "photo":
                raise _bad("can't use the media of the specified type in the album")
            raw = str(item.get("caption") or "")
            mode = item.get("parse_mode") or None
            given = item.get("caption_entities")
            text, entities = self._caption(
                raw, mode, json.dumps(given) if given is not None else None
            )
            items.append((self._photo_url(item.get("media")), raw, text, entities, mode))
        reply_to = self._reply_target(params, chat)
        thread = self._thread(params, chat)
        # Every photo of an album is a message for the flood limit.
        self._flood_check(chat, len(items))
        group = str(10_000_000_000 + self._next_group)
        self._next_group += 1
        out = []
        for url, raw, text, entities, mode in items:
            sent = SentMessage(
                chat=key,
                chat_id=chat.id,
                message_id=chat.next_message_id,
                html=raw,
                text=text,
                entities=entities,
                parse_mode=mode,
                disable_notification=params.flag("disable_notification"),
                link_preview_disabled=False,
                reply_to=reply_to,
                date=int(self._clock()),
                thread_id=thread,
                photo=url,
                media_group_id=group,
            )
            out.append(self._message_json(self._record(sent, chat)))
        return out

    def _edit_message_text(self, token: str, params: _Params) -> Any:
        if params.get("inline_message_id"):
            raise _bad("inline messages are not supported by this fake")
        _key, chat = self._usable_chat(params)
        message_id = self._message_id(params)
        raw, text, entities, _mode = self._text(params)
        found = self._index.get((chat.id, message_id))
        if found is None or self._sent[found].deleted:
            raise _bad("message to edit not found")
        sent = self._sent[found]
        if sent.photo is not None:
            # A photo has a caption (editMessageCaption), no text: TDLib's answer.
            raise _bad("there is no text in the message to edit")
        current = sent.edits[-1] if sent.edits else sent
        if (current.text, current.entities) == (text, entities):
            raise _ApiError(400, _NOT_MODIFIED)
        self._flood_check(chat)
        edit = Edit(html=raw, text=text, entities=entities, date=int(self._clock()))
        updated = replace(sent, edits=(*sent.edits, edit))
        self._sent[found] = updated
        return self._message_json(updated)

    def _delete_message(self, token: str, params: _Params) -> Any:
        _key, chat = self._usable_chat(params)
        message_id = self._message_id(params)
        found = self._index.get((chat.id, message_id))
        if found is None or self._sent[found].deleted:
            raise _bad("message to delete not found")
        self._sent[found] = replace(self._sent[found], deleted=True)
        return True

    _METHODS: Mapping[str, Callable[[FakeTelegram, str, _Params], Any]] = {
        "getme": _get_me,
        "sendmessage": _send_message,
        "sendphoto": _send_photo,
        "sendmediagroup": _send_media_group,
        "editmessagetext": _edit_message_text,
        "deletemessage": _delete_message,
    }
