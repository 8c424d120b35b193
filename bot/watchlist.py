"""Load the operators' watchlist YAML into model values; every problem names file, line, field.

The file is composed with PyYAML, keeping each node's line; pydantic validates the plain data;
checks that span the file (unique ids, unique sources, channels naming known topics, no secrets)
run on the same data. Every problem found is reported at once in one ``ConfigError``. Only
``bot.app`` and ``bot.cli`` call this; everything below receives the frozen ``Watchlist``.
"""

from __future__ import annotations

import datetime as dt
import difflib
import os
import re
import zoneinfo
from dataclasses import replace
from datetime import timedelta
from typing import Annotated, Any, Final, Literal
from urllib.parse import urlsplit

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import ErrorDetails, PydanticCustomError

from bot.errors import ConfigError, ConfigProblem
from bot.model import (
    Channel,
    EditPolicy,
    MatchMode,
    Priority,
    SourceKind,
    SourceSpec,
    Speaker,
    Term,
    Threads,
    Topic,
    Watchlist,
)
from bot.reload import content_digest

__all__ = [
    "MAX_INTERVAL",
    "MAX_WATCHLIST_BYTES",
    "MIN_INTERVAL",
    "format_interval",
    "load_watchlist",
    "parse_interval",
    "parse_watchlist",
    "parse_watchlist_bytes",
    "read_watchlist_bytes",
]

MIN_INTERVAL = timedelta(seconds=1)
MAX_INTERVAL = timedelta(days=7)

#: A position in the document: mapping keys and sequence indexes, from the root.
_Loc = tuple[str | int, ...]

_INTERVAL_PARTS = re.compile(
    r"(?:(?P<d>\d{1,9})d)?\s*(?:(?P<h>\d{1,9})h)?\s*(?:(?P<m>\d{1,9})m)?\s*(?:(?P<s>\d{1,9})s)?"
)
_SLUG = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
_LANG = re.compile(r"[a-z]{2,3}(?:-[a-zA-Z0-9]{2,8})*")
_X_HANDLE = re.compile(r"@?[A-Za-z0-9_]{1,15}")
# Public channel usernames: a letter first, then letters, digits, '_' (4 to 32 in all).
_TELEGRAM_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{3,31}")
_TELEGRAM_LINK = re.compile(
    r"(?:https?://)?(?:www\.)?(?:t\.me|telegram\.me)/(?:s/)?(?P<name>[^/?#\s]+)/?",
    re.IGNORECASE,
)
# Telegram public usernames: 5-32 characters, a letter first.
_CHAT_NAME = re.compile(r"@[A-Za-z][A-Za-z0-9_]{4,31}")
_CHAT_ID = re.compile(r"-?[0-9]{1,20}")
_SECRET_KEY = re.compile(r"token|passw|secret|api[_-]?key|bearer|credential", re.IGNORECASE)
# Aliases can make a small file expand enormously ("billion laughs"); a watchlist never needs this.
_MAX_NODES = 200_000
_MAX_DEPTH = 64
# Collections may carry only the default tags; "!!python/..." and the like are refused.
_PLAIN_TAGS = frozenset(
    {
        yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
        yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG,
    }
)


# --- intervals ------------------------------------------------------------------------------


def parse_interval(value: str | int) -> timedelta:
    """Parse a poll interval: "45s", "5m", "1h", "1h30m", "2d", or a bare number of seconds.

    Units (d, h, m, s) come in that order, each at most once; case and spaces between parts do
    not matter. The result must lie between ``MIN_INTERVAL`` (1 s) and ``MAX_INTERVAL`` (7 d).

    Raises:
        ValueError: not a duration, or out of range; the message says which.
    """
    if isinstance(value, bool):
        raise ValueError("expected a duration like '60s', '5m' or '1h30m', got a boolean")
    if isinstance(value, int):
        seconds = value
    else:
        text = value.strip().lower()
        if text.isascii() and text.isdigit():
            seconds = int(text)
        else:
            m = _INTERVAL_PARTS.fullmatch(text)
            if not text or m is None or not any(m.groupdict().values()):
                raise ValueError(
                    f"not a duration: {value!r}; write e.g. '45s', '5m', '1h30m' "
                    "or a number of seconds"
                )
            parts = {k: int(v) if v else 0 for k, v in m.groupdict().items()}
            seconds = parts["d"] * 86400 + parts["h"] * 3600 + parts["m"] * 60 + parts["s"]
    if not MIN_INTERVAL.total_seconds() <= seconds <= MAX_INTERVAL.total_seconds():
        raise ValueError(f"must be between 1s and 7d, got {value!r}")
    return timedelta(seconds=seconds)


def format_interval(interval: timedelta) -> str:
    """Write an interval compactly in whole seconds ("1h30m", "45s", "7d"); parses back. No I/O."""
    seconds = int(interval.total_seconds())
    if seconds <= 0:
        return "0s"
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts = ((days, "d"), (hours, "h"), (minutes, "m"), (secs, "s"))
    return "".join(f"{n}{unit}" for n, unit in parts if n)


# --- the schema -----------------------------------------------------------------------------


def _fail(message: str) -> PydanticCustomError:
    # Without a context pydantic-core does not format the message, so user text with braces is safe.
    return PydanticCustomError("watchlist", message)


def _slug(value: str) -> str:
    if not _SLUG.fullmatch(value):
        raise _fail(
            f"{value!r} is not a valid id: use lowercase letters, digits, '-' and '_' "
            "(at most 64), starting with a letter or digit"
        )
    return value


def _non_empty(value: str) -> str:
    stripped = value.strip()
    if not stripped:
        raise _fail("must not be empty")
    return stripped


# A "*" that ends a word: after a letter or digit, before the end, whitespace or a hyphen.
_WORD_END_STAR = re.compile(r"(?<=[^\W_])\*(?=$|[\s\-])")


def _term(value: str) -> str:
    stripped = value.strip()
    body = stripped.removesuffix("*").strip()
    if not body:
        raise _fail("empty term")
    # Issue 7: "*" may end any word of a phrase ("прекращени* огня"), not stand inside one.
    if "*" in _WORD_END_STAR.sub("", stripped):
        raise _fail(f"{value!r}: '*' may only end a word (it means: any ending of that word)")
    return stripped


#: The key a plain (language-less) term list is validated under. It is never an operator's key:
#: `_per_language` refuses a mapping that spells it. (Issue 7: it used to be "", which YAML can
#: write too — `'': 1` or a bare anchor `&0:` — and the problem report then crashed.)
_PLAIN_LIST: Final = "\x00plain term list"


def _bad_lang(value: str) -> PydanticCustomError:
    return _fail(f"{value!r} is not a language code; write e.g. 'en', 'hy', 'az', 'ru', 'tr'")


def _lang(value: str) -> str:
    if value != _PLAIN_LIST and not _LANG.fullmatch(value):
        raise _bad_lang(value)
    return value


def _per_language(value: Any) -> Any:
    # A plain list means terms in no particular language: keep one shape for validation.
    if isinstance(value, list):
        return {_PLAIN_LIST: value}
    if isinstance(value, dict) and _PLAIN_LIST in value:
        raise _bad_lang(_PLAIN_LIST)
    return value


_Slug = Annotated[str, AfterValidator(_slug)]
_Text = Annotated[str, AfterValidator(_non_empty)]
_TermText = Annotated[str, AfterValidator(_term)]
_Lang = Annotated[str, AfterValidator(_lang)]
_Terms = dict[_Lang, list[_TermText]]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class _SourceIn(_Strict):
    feed: str | None = None
    x: str | None = None
    #: a public Telegram channel: "name", "@name" or a t.me link (issue 10)
    telegram: str | None = None
    interval: timedelta | None = None
    match: Literal["topics", "all"] = "topics"
    backfill_alerts: int = Field(default=0, ge=0)
    edits: Literal["alert", "store"] = "alert"

    @field_validator("feed")
    @classmethod
    def _check_feed(cls, value: str | None) -> str | None:
        if value is None:
            return None
        url = value.strip()
        try:
            parts = urlsplit(url)
            port_ok = parts.port is None or parts.port > 0
        except ValueError:
            parts, port_ok = urlsplit(""), False
        if parts.scheme not in ("http", "https") or not parts.hostname or not port_ok:
            raise _fail(f"{value!r} is not a feed URL: it must be http:// or https:// with a host")
        if url.split() != [url]:  # str.split() cuts at exactly what str.isspace() calls space
            raise _fail(f"{value!r} is not a feed URL: it contains whitespace")
        return url

    @field_validator("x")
    @classmethod
    def _check_x(cls, value: str | None) -> str | None:
        if value is None:
            return None
        handle = value.strip()
        if not _X_HANDLE.fullmatch(handle):
            raise _fail(
                f"{value!r} is not an X handle: 1 to 15 letters, digits or '_', "
                "with an optional leading '@'"
            )
        return handle.removeprefix("@")

    @field_validator("telegram")
    @classmethod
    def _check_telegram(cls, value: str | None) -> str | None:
        if value is None:
            return None
        name = _telegram_channel(value)
        if name is None:
            raise _fail(
                f"{value!r} is not a public Telegram channel: write its username ('name', "
                "'@name') or its link ('https://t.me/name'); a username is 4 to 32 letters, "
                "digits or '_', starting with a letter"
            )
        return name

    @field_validator("interval", mode="before")
    @classmethod
    def _check_interval(cls, value: Any) -> timedelta | None:
        if value is None:
            return None
        if not isinstance(value, str | int):
            raise _fail("expected a duration like '60s', '5m' or '1h30m'")
        try:
            return parse_interval(value)
        except ValueError as exc:
            raise _fail(str(exc)) from None

    @model_validator(mode="after")
    def _one_place(self) -> _SourceIn:
        given = sum(v is not None for v in (self.feed, self.x, self.telegram))
        if given != 1:
            said = "more than one" if given else "none"
            raise _fail(
                f"a source needs exactly one of 'feed:', 'x:' or 'telegram:', this one has {said}"
            )
        return self


def _timezone(value: str) -> str:
    name = value.strip()
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise _fail(f"{value!r} is not a time zone; use an IANA name like 'Asia/Yerevan'") from None
    return name


_CLOCK = re.compile(r"([01]?[0-9]|2[0-3]):([0-5][0-9])")


def _clock(value: Any, example: str) -> dt.time:
    """A local time of day: "18:00", or what YAML 1.1 makes of an unquoted 18:00 (minutes)."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 24 * 60:
        return dt.time(value // 60, value % 60)
    if isinstance(value, str):
        m = _CLOCK.fullmatch(value.strip())
        if m:
            return dt.time(int(m.group(1)), int(m.group(2)))
    raise _fail(f"expected a time of day like {example!r} (24-hour HH:MM), got {value!r}")


def _require_group(value: Any) -> Any:
    value = _per_language(value)
    if not isinstance(value, dict):
        raise _fail("expected a list of terms, or a mapping of languages to lists of terms")
    if isinstance(value, dict) and not any(value.values()):
        raise _fail("a require group needs at least one term")
    return value


_Group = Annotated[_Terms, BeforeValidator(_require_group)]


class _SpeakerIn(_Strict):
    id: _Slug
    name: _Text
    role: str = ""
    side: _Text
    timezone: str
    sources: list[_SourceIn] = Field(default_factory=list)

    _check_timezone = field_validator("timezone")(_timezone)


class _TopicIn(_Strict):
    id: _Slug
    name: _Text
    priority: Literal["urgent", "normal", "low"] = "normal"
    terms: _Terms
    exclude: _Terms = Field(default_factory=dict)
    #: all-of groups: each a list of terms or a per-language mapping, like `terms`
    require: list[_Group] = Field(default_factory=list)
    transliterate: bool = False

    _spread_terms = field_validator("terms", "exclude", mode="before")(_per_language)

    @field_validator("terms")
    @classmethod
    def _some_terms(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        if not any(value.values()):
            raise _fail("a topic needs at least one term")
        return value


def _thread_id(value: int) -> int:
    if value < 1:
        raise _fail(f"a forum topic's message_thread_id is a positive number, got {value}")
    return value


_ThreadId = Annotated[int, AfterValidator(_thread_id)]


class _ThreadsIn(_Strict):
    """issue 11: a forum chat's topics (message_thread_id) by watchlist topic and by side."""

    topics: dict[str, _ThreadId] = Field(default_factory=dict)
    sides: dict[str, _ThreadId] = Field(default_factory=dict)
    default: _ThreadId | None = None


class _ChannelIn(_Strict):
    id: _Slug
    chat: str
    topics: list[str] | None = None
    threads: _ThreadsIn | None = None
    #: issue 11: send statements' photos (YAML reads a bare on/off as true/false)
    media: bool = False
    timezone: str = "UTC"
    #: "23:00-07:00", local times; may wrap midnight
    quiet_hours: tuple[dt.time, dt.time] | None = None
    #: "18:00", local time of the daily digest
    digest: dt.time | None = None

    _check_timezone = field_validator("timezone")(_timezone)

    @field_validator("quiet_hours", mode="before")
    @classmethod
    def _check_quiet_hours(cls, value: Any) -> tuple[dt.time, dt.time] | None:
        if value is None:
            return None
        parts = value.split("-") if isinstance(value, str) else []
        if len(parts) != 2:
            raise _fail(f"expected a span of local times like '23:00-07:00', got {value!r}")
        start, end = (_clock(p, "23:00-07:00") for p in parts)
        if start == end:
            raise _fail(f"{value!r} is empty: start and end are the same time")
        return (start, end)

    @field_validator("media", mode="before")
    @classmethod
    def _check_media(cls, value: Any) -> bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("on", "off"):
            return value.strip().lower() == "on"
        raise _fail(f"expected on or off, got {value!r}")

    @field_validator("digest", mode="before")
    @classmethod
    def _check_digest(cls, value: Any) -> dt.time | None:
        return None if value is None else _clock(value, "18:00")

    @field_validator("chat", mode="before")
    @classmethod
    def _check_chat(cls, value: Any) -> str:
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str):
            raise _fail("expected '@channelname' or a numeric chat id")
        chat = value.strip()
        if not (_CHAT_NAME.fullmatch(chat) or _CHAT_ID.fullmatch(chat)):
            raise _fail(
                f"{value!r} is neither '@name' (5 to 32 letters, digits or '_') "
                "nor a numeric chat id"
            )
        return chat

    @field_validator("topics")
    @classmethod
    def _some_topics(cls, value: list[str] | None) -> list[str] | None:
        if value == []:
            raise _fail("an empty list sends nothing; leave 'topics' out to send every topic")
        return value


class _WatchlistIn(_Strict):
    speakers: list[_SpeakerIn]
    topics: list[_TopicIn] = Field(default_factory=list)
    channels: list[_ChannelIn] = Field(default_factory=list)


# Which model a mapping at a place in the document is, by the keys on the way (indexes dropped).
_MODEL_AT: dict[tuple[str, ...], type[BaseModel]] = {
    (): _WatchlistIn,
    ("speakers",): _SpeakerIn,
    ("speakers", "sources"): _SourceIn,
    ("topics",): _TopicIn,
    ("channels",): _ChannelIn,
    ("channels", "threads"): _ThreadsIn,
}


# --- reading YAML with lines ----------------------------------------------------------------


class _Reader:
    """Turns a composed YAML node tree into plain data, recording each place's line."""

    def __init__(self, loader: yaml.SafeLoader, path: str) -> None:
        self.loader = loader
        self.path = path
        self.lines: dict[_Loc, int] = {}
        self.problems: list[ConfigProblem] = []
        #: places already reported, whose data validation must not report again
        self.refused: set[_Loc] = set()
        self.nodes = 0

    def problem(self, line: int | None, loc: _Loc, message: str) -> None:
        self.problems.append(ConfigProblem(self.path, line, _field(loc), message))

    def data(self, node: yaml.Node, loc: _Loc) -> Any:
        self.nodes += 1
        if self.nodes > _MAX_NODES or len(loc) > _MAX_DEPTH:
            raise _TooBig(node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode | yaml.SequenceNode) and node.tag not in _PLAIN_TAGS:
            # Scalars with such tags fail in the SafeLoader's constructor; collections are ours.
            self.problem(node.start_mark.line + 1, loc, f"the tag {node.tag!r} is not allowed")
            self.refused.add(loc)
            return None
        if isinstance(node, yaml.MappingNode):
            return self.mapping(node, loc)
        if isinstance(node, yaml.SequenceNode):
            items = []
            for i, item in enumerate(node.value):
                self.lines[(*loc, i)] = item.start_mark.line + 1
                items.append(self.data(item, (*loc, i)))
            return items
        return self.loader.construct_object(node, deep=True)

    def mapping(self, node: yaml.MappingNode, loc: _Loc) -> dict[str, Any]:
        self.loader.flatten_mapping(node)  # YAML merge keys ("<<: *defaults")
        out: dict[str, Any] = {}
        seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            line = key_node.start_mark.line + 1
            if not isinstance(key_node, yaml.ScalarNode):
                self.problem(line, loc, "a key must be plain text")
                continue
            # The key as written: "on:" or "1:" stay text instead of becoming True or 1.
            key = str(key_node.value)
            here = (*loc, key)
            if key in seen:
                self.problem(line, here, f"duplicate key (first at line {seen[key]})")
                continue
            seen[key] = self.lines[here] = line
            if _SECRET_KEY.search(key):
                # Reported here, and kept out of validation so it is not also "unknown".
                self.problem(
                    line,
                    here,
                    "looks like a secret: secrets belong in the environment "
                    "(see config/settings.example.env), never in the watchlist",
                )
                continue
            out[key] = self.data(value_node, here)
        return out


# libyaml's loader when PyYAML has it: the same nodes with their lines, composed 15 times faster
# (0.2 s of CPU for a watchlist of 1,000 sources, 2 s for 10,000, at every start and reload).
_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _TooBig(Exception):
    def __init__(self, line: int) -> None:
        self.line = line


def _read_yaml(text: str, path: str) -> tuple[Any, _Reader | None, ConfigProblem | None]:
    """Plain data of the document and the reader that knows its lines, or the one YAML problem."""
    got = _read_yaml_with(_Loader, text, path)
    if got[2] is not None and _Loader is not yaml.SafeLoader:
        # Told in PyYAML's own words, which name what was expected and what was found
        # ("expected ',' or ']', but got ':'"); libyaml's say less. Only a broken file pays.
        return _read_yaml_with(yaml.SafeLoader, text, path)
    return got


def _read_yaml_with(
    make: type[yaml.SafeLoader], text: str, path: str
) -> tuple[Any, _Reader | None, ConfigProblem | None]:
    loader = make(text)
    reader = _Reader(loader, path)
    try:
        root = loader.get_single_node()
        if root is None:
            return None, reader, None
        reader.lines[()] = root.start_mark.line + 1
        return reader.data(root, ()), reader, None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        message = exc.problem or exc.context or "cannot be read"
        if exc.context and exc.problem:
            started = f" started at line {exc.context_mark.line + 1}" if exc.context_mark else ""
            message += f" ({exc.context}{started})"
        return None, None, ConfigProblem(path, line, "", f"not valid YAML: {message}")
    except yaml.YAMLError as exc:
        return None, None, ConfigProblem(path, None, "", f"not valid YAML: {exc}")
    except _TooBig as exc:
        return (
            None,
            None,
            ConfigProblem(
                path, exc.line, "", "the document is too large or nested too deeply (aliases?)"
            ),
        )
    finally:
        loader.dispose()


# --- from pydantic's errors to problems -----------------------------------------------------


def _field(loc: _Loc) -> str:
    """A place as operators read it: ``speakers[2].sources[0].interval``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            name = part or "''"
            out += f".{name}" if out else name
    return out


def _is_language_slot(before: _Loc) -> bool:
    """True when the key after `before` is a term list's language (terms, exclude, require[i])."""
    if len(before) >= 3 and before[-3] == "topics" and before[-1] in ("terms", "exclude"):
        return True
    return (
        len(before) >= 4
        and before[-4] == "topics"
        and before[-2] == "require"
        and isinstance(before[-1], int)
    )


def _place(error: ErrorDetails) -> _Loc:
    """The error's place in the document: pydantic's markers taken out, operators' keys kept."""
    raw = tuple(error["loc"])
    out: list[str | int] = []
    for i, part in enumerate(raw):
        if part == _PLAIN_LIST and _is_language_slot(tuple(out)):
            continue  # a plain list: its items are numbered right under the field
        if part == "[key]" and i == len(raw) - 1 and error["type"] != "extra_forbidden":
            continue  # pydantic's mark of a bad mapping key, after the key itself
        out.append(part)
    return tuple(out)


def _line(lines: dict[_Loc, int], loc: _Loc) -> int | None:
    """The line of a place, or of its nearest ancestor written in the file."""
    for end in range(len(loc), -1, -1):
        line = lines.get(loc[:end])
        if line is not None:
            return line
    return None


def _kind(value: Any) -> str:
    if value is None:
        return "nothing (an empty value)"
    if isinstance(value, bool):
        return "a yes/no value (quote it if you mean text)"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, dt.date | dt.datetime):
        return "a date (quote it if you mean text)"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping of keys to values"
    return type(value).__name__


_EXPECTED = {
    "string_type": "text",
    "int_type": "a whole number",
    "bool_type": "true or false",
    "list_type": "a list",
    "dict_type": "a mapping of keys to values",
    "model_type": "a mapping of keys to values",
    "model_attributes_type": "a mapping of keys to values",
}


def _unknown_key(loc: _Loc) -> str:
    model = _MODEL_AT.get(tuple(p for p in loc[:-1] if isinstance(p, str)))
    if model is None:
        return "unknown key"
    known = list(model.model_fields)
    close = difflib.get_close_matches(str(loc[-1]), known, n=1)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    return f"unknown key{hint} (known: {', '.join(known)})"


def _message(error: ErrorDetails, loc: _Loc) -> str:
    kind = error["type"]
    ctx = error.get("ctx", {})
    if kind == "missing":
        return "required, but missing"
    if kind == "extra_forbidden":
        return _unknown_key(loc)
    if kind in _EXPECTED:
        return f"expected {_EXPECTED[kind]}, got {_kind(error['input'])}"
    if kind == "literal_error":
        return f"must be {ctx['expected']}, got {error['input']!r}"
    if kind == "greater_than_equal":
        return f"must be at least {ctx['ge']}, got {error['input']!r}"
    return error["msg"]


def _problems_of(exc: ValidationError, reader: _Reader) -> list[ConfigProblem]:
    problems = []
    for error in exc.errors(include_url=False):
        loc = _place(error)
        if any(loc[:end] in reader.refused for end in range(len(loc) + 1)):
            continue
        problems.append(
            ConfigProblem(reader.path, _line(reader.lines, loc), _field(loc), _message(error, loc))
        )
    return problems


# --- checks across the file -----------------------------------------------------------------


def _items(data: Any, key: str) -> list[tuple[int, dict[str, Any]]]:
    """The mappings in the list ``data[key]``, with their indexes; nothing if it is not a list."""
    value = data.get(key) if isinstance(data, dict) else None
    if not isinstance(value, list):
        return []
    return [(i, item) for i, item in enumerate(value) if isinstance(item, dict)]


def _source_key(source: dict[str, Any]) -> str | None:
    feed, x, tg = source.get("feed"), source.get("x"), source.get("telegram")
    given = sum(v is not None for v in (feed, x, tg))
    if isinstance(feed, str) and given == 1:
        return "feed:" + feed.strip()
    if isinstance(x, str) and given == 1:
        return "x:" + x.strip().removeprefix("@").lower()
    if isinstance(tg, str) and given == 1:
        name = _telegram_channel(tg)
        return "telegram:" + name.lower() if name else None
    return None


def _telegram_channel(value: str) -> str | None:
    """The username of a public channel written as "name", "@name" or a t.me link."""
    m = _TELEGRAM_LINK.match(value.strip())
    name = m.group("name") if m else value.strip().removeprefix("@")
    return name if _TELEGRAM_NAME.fullmatch(name) else None


def _cross_checks(data: Any, reader: _Reader) -> None:
    """Uniqueness and references, which a per-item schema cannot see."""
    lines = reader.lines
    for section in ("speakers", "topics", "channels"):
        seen: dict[str, int | None] = {}
        for i, item in _items(data, section):
            ident = item.get("id")
            if not isinstance(ident, str):
                continue
            loc: _Loc = (section, i, "id")
            if ident in seen:
                reader.problem(
                    lines.get(loc), loc, f"duplicate id '{ident}' (first at line {seen[ident]})"
                )
            else:
                seen[ident] = lines.get(loc)

    sources: dict[str, _Loc] = {}
    for i, speaker in _items(data, "speakers"):
        for j, source in _items(speaker, "sources"):
            key = _source_key(source)
            if key is None:
                continue
            loc = ("speakers", i, "sources", j)
            if key in sources:
                first = sources[key]
                reader.problem(
                    lines.get(loc),
                    loc,
                    f"duplicate source '{key}' (first at line {lines.get(first)}, {_field(first)})",
                )
            else:
                sources[key] = loc

    topic_ids = [t["id"] for _, t in _items(data, "topics") if isinstance(t.get("id"), str)]
    for i, channel in _items(data, "channels"):
        wanted = channel.get("topics")
        if not isinstance(wanted, list):
            continue
        for j, topic in enumerate(wanted):
            if isinstance(topic, str) and topic not in topic_ids:
                loc = ("channels", i, "topics", j)
                known = ", ".join(topic_ids) or "none"
                reader.problem(lines.get(loc), loc, f"unknown topic '{topic}' (topics: {known})")

    # issue 11: a thread for a topic or side that no alert can have would never be used.
    sides = sorted(
        {s["side"] for _, s in _items(data, "speakers") if isinstance(s.get("side"), str)}
    )
    known_sides = {side.casefold() for side in sides}
    for i, channel in _items(data, "channels"):
        threads = channel.get("threads")
        if not isinstance(threads, dict):
            continue
        for section, names, what in (
            ("topics", set(topic_ids), ", ".join(topic_ids) or "none"),
            ("sides", known_sides, ", ".join(sides) or "none"),
        ):
            wanted_threads = threads.get(section)
            if not isinstance(wanted_threads, dict):
                continue
            for name in wanted_threads:
                key = name.casefold() if section == "sides" else name
                if isinstance(name, str) and key not in names:
                    loc = ("channels", i, "threads", section, name)
                    reader.problem(
                        lines.get(loc), loc, f"unknown {section[:-1]} '{name}' ({section}: {what})"
                    )


# --- building model values ------------------------------------------------------------------


def _terms(per_language: dict[str, list[str]]) -> tuple[Term, ...]:
    return tuple(
        Term(
            text=t.removesuffix("*").strip(),
            lang="" if lang == _PLAIN_LIST else lang,
            prefix=t.endswith("*"),
        )
        for lang, texts in per_language.items()
        for t in texts
    )


def _source(source: _SourceIn, speaker_id: str) -> SourceSpec:
    if source.feed is not None:
        kind, target, key = SourceKind.FEED, source.feed, "feed:" + source.feed
    elif source.telegram is not None:
        kind, target = SourceKind.TELEGRAM, source.telegram
        key = "telegram:" + source.telegram.lower()
    else:
        assert source.x is not None  # _one_place guarantees exactly one
        kind, target, key = SourceKind.X, source.x, "x:" + source.x.lower()
    return SourceSpec(
        key=key,
        kind=kind,
        target=target,
        speaker_id=speaker_id,
        interval=source.interval,
        match=MatchMode(source.match),
        backfill_alerts=source.backfill_alerts,
        edits=EditPolicy(source.edits),
    )


def _threads(threads: _ThreadsIn | None) -> Threads | None:
    if threads is None:
        return None
    return Threads(
        topics=tuple(threads.topics.items()),
        sides=tuple(threads.sides.items()),
        default=threads.default,
    )


def _build(valid: _WatchlistIn, path: str) -> Watchlist:
    return Watchlist(
        speakers=tuple(
            Speaker(
                id=s.id,
                name=s.name,
                role=s.role.strip(),
                side=s.side,
                timezone=s.timezone,
                sources=tuple(_source(src, s.id) for src in s.sources),
            )
            for s in valid.speakers
        ),
        topics=tuple(
            Topic(
                id=t.id,
                name=t.name,
                terms=_terms(t.terms),
                exclude=_terms(t.exclude),
                priority=Priority(t.priority),
                require=tuple(_terms(group) for group in t.require),
                transliterate=t.transliterate,
            )
            for t in valid.topics
        ),
        channels=tuple(
            Channel(
                id=c.id,
                chat=c.chat,
                topics=tuple(c.topics) if c.topics is not None else None,
                timezone=c.timezone,
                quiet_hours=c.quiet_hours,
                digest_at=c.digest,
                threads=_threads(c.threads),
                media=c.media,
            )
            for c in valid.channels
        ),
        path=path,
    )


def _sort_key(problem: ConfigProblem) -> tuple[bool, int]:
    return (problem.line is None, problem.line or 0)


# --- the entry points -----------------------------------------------------------------------


def parse_watchlist(text: str, *, path: str) -> Watchlist:
    """Validate a watchlist document and build its model values. No I/O.

    Args:
        text: the YAML document.
        path: where it came from, for messages and ``Watchlist.path``.

    Raises:
        ConfigError: every problem found, in file order, each naming line and field.
    """
    data, reader, yaml_problem = _read_yaml(text, path)
    if reader is None:
        assert yaml_problem is not None
        raise ConfigError([yaml_problem])
    if data is None:
        empty = ConfigProblem(
            path, None, "", "the file is empty: expected speakers, topics, channels"
        )
        raise ConfigError(reader.problems or [empty])
    valid: _WatchlistIn | None = None
    schema_problems: list[ConfigProblem] = []
    try:
        valid = _WatchlistIn.model_validate(data)
    except ValidationError as exc:
        schema_problems = _problems_of(exc, reader)
    _cross_checks(data, reader)
    problems = [*reader.problems, *schema_problems]
    if problems or valid is None:
        raise ConfigError(sorted(problems, key=_sort_key))
    return _build(valid, path)


#: the largest watchlist file read (a named limit: see `load_watchlist`)
MAX_WATCHLIST_BYTES = 2_000_000


def load_watchlist(
    path: str | os.PathLike[str], *, max_bytes: int = MAX_WATCHLIST_BYTES
) -> Watchlist:
    """Read and validate the watchlist file at ``path`` (at most `max_bytes` long).

    Raises:
        ConfigError: the file cannot be read, or every problem found in it.
    """
    name = os.fspath(path)
    return parse_watchlist_bytes(read_watchlist_bytes(name, max_bytes=max_bytes), path=name)


def read_watchlist_bytes(path: str, *, max_bytes: int = MAX_WATCHLIST_BYTES) -> bytes:
    """The watchlist file's bytes, at most `max_bytes` of them.

    Raises:
        ConfigError: the file cannot be read, or is too large.
    """
    try:
        with open(path, "rb") as f:
            # issue 11: a 10 MB file took 25 s and 674 MB to parse before it was refused;
            # read one byte past the cap and refuse at once.
            data = f.read(max_bytes + 1)
    except OSError as exc:
        raise ConfigError(
            [ConfigProblem(path, None, "", f"cannot read: {exc.strerror or exc}")]
        ) from exc
    if len(data) > max_bytes:
        raise ConfigError(
            [
                ConfigProblem(
                    path,
                    None,
                    "",
                    f"larger than {max_bytes:,} bytes: refused unread "
                    "(a watchlist of a thousand sources is under 200 KB)",
                )
            ]
        )
    return data


def parse_watchlist_bytes(data: bytes, *, path: str) -> Watchlist:
    """Decode (UTF-8, a BOM allowed) and validate a watchlist read as bytes. No I/O.

    Raises:
        ConfigError: not UTF-8, or every problem found in it.
    """
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            [ConfigProblem(path, None, "", f"not UTF-8 text (bad byte at offset {exc.start})")]
        ) from None
    return replace(parse_watchlist(text, path=path), digest=content_digest(data))
