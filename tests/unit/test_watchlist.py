"""The watchlist loader: model values out, and every problem as FILE:LINE: field: message."""

from __future__ import annotations

import datetime as dt
import textwrap
import zoneinfo
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from bot.errors import ConfigError
from bot.model import Channel, MatchMode, Priority, SourceKind, Term
from bot.watchlist import format_interval, load_watchlist, parse_interval, parse_watchlist

REPO = Path(__file__).resolve().parents[2]
SHIPPED = REPO / "config" / "watchlist.yaml"

# Line numbers in the tests below count from the first line of these documents.
VALID = """\
speakers:
  - id: artsakh-mfa
    name: Artsakh Ministry of Foreign Affairs
    role: Foreign ministry
    side: Artsakh
    timezone: Asia/Yerevan
    sources:
      - feed: " https://example.org/rss "
        interval: 1h30m
        match: all
        backfill_alerts: 2
      - x: "@NKobserver"
topics:
  - id: karabakh
    name: Nagorno-Karabakh
    priority: urgent
    terms:
      en: [Karabakh, "line of contact"]
      hy: [Արցախ*]
    exclude: [Qarabag FK]
channels:
  - id: main
    chat: "@example_channel"
  - id: numeric
    chat: -1001234567890
    topics: [karabakh]
"""


def problems(text: str) -> list[str]:
    """Every problem of a document, as the operator reads them."""
    with pytest.raises(ConfigError) as info:
        parse_watchlist(textwrap.dedent(text), path="w.yaml")
    return [str(p) for p in info.value.problems]


def one_problem(text: str) -> str:
    found = problems(text)
    assert len(found) == 1, found
    return found[0]


def speaker(*source_lines: str, extra: str = "") -> str:
    """A document with one speaker; its first source line is line 7."""
    sources = "\n".join(f"      {line}" for line in source_lines)
    return (
        "speakers:\n"
        "  - id: s\n"
        "    name: S\n"
        "    side: A\n"
        "    timezone: UTC\n"
        f"{extra}"
        "    sources:\n"
        f"{sources}\n"
    )


# --- model values ---------------------------------------------------------------------------


def test_valid_document_becomes_model_values() -> None:
    w = parse_watchlist(VALID, path="config/w.yaml")

    assert w.path == "config/w.yaml"
    (sp,) = w.speakers
    assert (sp.id, sp.side, sp.timezone, sp.role) == (
        "artsakh-mfa",
        "Artsakh",
        "Asia/Yerevan",
        "Foreign ministry",
    )
    feed, x = sp.sources
    assert feed.key == "feed:https://example.org/rss"
    assert (feed.kind, feed.target, feed.speaker_id) == (
        SourceKind.FEED,
        "https://example.org/rss",
        "artsakh-mfa",
    )
    assert feed.interval == timedelta(hours=1, minutes=30)
    assert (feed.match, feed.backfill_alerts) == (MatchMode.ALL, 2)
    assert x.key == "x:nkobserver"
    assert (x.kind, x.target, x.interval, x.match, x.backfill_alerts) == (
        SourceKind.X,
        "NKobserver",
        None,
        MatchMode.TOPICS,
        0,
    )
    (topic,) = w.topics
    assert topic.priority is Priority.URGENT
    assert topic.terms == (
        Term("Karabakh", "en", False),
        Term("line of contact", "en", False),
        Term("Արցախ", "hy", True),
    )
    assert topic.exclude == (Term("Qarabag FK", "", False),)
    assert w.channels == (
        Channel("main", "@example_channel", None),
        Channel("numeric", "-1001234567890", ("karabakh",)),
    )


def test_optional_sections_default_to_empty() -> None:
    w = parse_watchlist("speakers: []\n", path="w.yaml")
    assert (w.speakers, w.topics, w.channels) == ((), (), ())


def test_topic_priority_defaults_to_normal() -> None:
    w = parse_watchlist("speakers: []\ntopics:\n  - {id: t, name: T, terms: [x]}\n", path="p")
    assert w.topics[0].priority is Priority.NORMAL
    assert w.topics[0].terms == (Term("x", "", False),)


def test_load_watchlist_reads_the_file_and_keeps_the_path(tmp_path: Path) -> None:
    path = tmp_path / "w.yaml"
    path.write_text(VALID, encoding="utf-8")
    w = load_watchlist(path)
    assert w.path == str(path)
    assert w == parse_watchlist(VALID, path=str(path))


def test_load_watchlist_names_a_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.yaml"
    with pytest.raises(ConfigError) as info:
        load_watchlist(path)
    assert [str(p) for p in info.value.problems] == [
        f"{path}: cannot read: No such file or directory"
    ]


def test_load_watchlist_names_bytes_that_are_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "w.yaml"
    path.write_bytes(b"speakers: []\n# \xff\n")
    with pytest.raises(ConfigError) as info:
        load_watchlist(path)
    assert str(info.value) == f"{path}: not UTF-8 text (bad byte at offset 15)"


# --- the shipped example ----------------------------------------------------------------------


def test_shipped_watchlist_loads_without_problems() -> None:
    w = load_watchlist(SHIPPED)

    assert {sp.side for sp in w.speakers} == {
        "Armenia",
        "Artsakh",
        "Azerbaijan",
        "Turkey",
        "Russia",
        "OSCE",
    }
    assert {sp.timezone for sp in w.speakers} == {
        "Asia/Yerevan",
        "Asia/Baku",
        "Europe/Istanbul",
        "Europe/Moscow",
        "Europe/Vienna",
    }
    handles = {s.key for s in w.sources() if s.kind is SourceKind.X}
    assert {"x:mfaofarmenia", "x:presidentaz", "x:rterdogan", "x:mfa_russia", "x:osce"} <= handles
    assert any(s.kind is SourceKind.FEED for s in w.sources())
    assert {t.id for t in w.topics} >= {"karabakh", "ceasefire"}
    ceasefire = w.topic("ceasefire")
    assert ceasefire is not None
    assert {t.lang for t in ceasefire.terms} == {"en", "hy", "az", "ru", "tr"}
    assert Term("հրադադար", "hy", True) in ceasefire.terms
    assert w.channel("main") == Channel(
        "main",
        "@watchpost_example",
        None,
        timezone="Asia/Yerevan",
        quiet_hours=(dt.time(23, 0), dt.time(7, 0)),
        digest_at=dt.time(21, 0),
    )
    assert w.channel("ceasefire") == Channel(
        "ceasefire", "@watchpost_ceasefire_example", ("ceasefire",)
    )


def test_shipped_watchlist_marks_what_could_not_be_checked() -> None:
    # Operators must see which handles and URLs were written without checking them.
    text = SHIPPED.read_text(encoding="utf-8")
    marked = [line for line in text.splitlines() if line.rstrip().endswith("# not verified")]
    assert marked
    assert all(("- x:" in line) or ("- feed:" in line) for line in marked)


# --- malformed YAML -------------------------------------------------------------------------


def test_malformed_yaml_names_the_line_of_the_error() -> None:
    doc = "speakers:\n  - id: a\n    name: [unclosed\n  - id: b\n"
    assert one_problem(doc) == (
        "w.yaml:4: not valid YAML: expected ',' or ']', but got ':'"
        " (while parsing a flow sequence started at line 3)"
    )


def test_a_tab_for_indentation_is_named() -> None:
    assert one_problem("speakers:\n\t- id: a\n").startswith("w.yaml:2: not valid YAML: ")


@pytest.mark.parametrize(
    ("doc", "expected"),
    [
        ("", "w.yaml: the file is empty: expected speakers, topics, channels"),
        ("# only a comment\n", "w.yaml: the file is empty: expected speakers, topics, channels"),
        ("- a\n", "w.yaml:1: expected a mapping of keys to values, got a list"),
        ("topics: []\n", "w.yaml:1: speakers: required, but missing"),
        (
            "speakers:\n  id: a\n",
            "w.yaml:1: speakers: expected a list, got a mapping of keys to values",
        ),
    ],
)
def test_the_document_must_be_a_mapping_with_speakers(doc: str, expected: str) -> None:
    assert one_problem(doc) == expected


def test_python_tags_are_refused() -> None:
    # SafeLoader refuses them; the message still names the line.
    assert one_problem("speakers: []\ntopics: !!python/object:os.system [ls]\n") == (
        "w.yaml:2: topics: the tag 'tag:yaml.org,2002:python/object:os.system' is not allowed"
    )


def test_alias_expansion_bomb_is_refused_quickly() -> None:
    lines = ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    for prev, name in zip("abcdefgh", "bcdefghi", strict=True):
        lines.append(f"{name}: &{name} [{', '.join([f'*{prev}'] * 10)}]")
    found = one_problem("\n".join(lines) + "\n")
    assert found.endswith("the document is too large or nested too deeply (aliases?)")


def test_duplicate_key_is_named_with_both_lines() -> None:
    doc = speaker("- x: a", extra="    name: T\n")
    assert one_problem(doc) == "w.yaml:6: speakers[0].name: duplicate key (first at line 3)"


# --- unknown keys, types, missing fields ----------------------------------------------------


def test_unknown_key_suggests_the_nearest_known_one() -> None:
    assert one_problem(speaker("- x: a", "  intervall: 5m")) == (
        "w.yaml:8: speakers[0].sources[0].intervall: unknown key; did you mean 'interval'? "
        "(known: feed, x, telegram, interval, match, backfill_alerts, edits)"
    )


def test_wrong_type_names_what_was_expected_and_found() -> None:
    doc = speaker("- x: a").replace("name: S", "name: 5")
    assert one_problem(doc) == "w.yaml:3: speakers[0].name: expected text, got a number"


def test_yes_no_words_are_explained() -> None:
    doc = speaker("- x: a").replace("side: A", "side: no")
    assert one_problem(doc) == (
        "w.yaml:4: speakers[0].side: expected text, got a yes/no value (quote it if you mean text)"
    )


def test_missing_required_field_points_at_its_mapping() -> None:
    doc = speaker("- x: a").replace("    side: A\n", "")
    assert one_problem(doc) == "w.yaml:2: speakers[0].side: required, but missing"


# --- ids and references ---------------------------------------------------------------------


def test_bad_id_is_named() -> None:
    doc = speaker("- x: a").replace("id: s", "id: Artsakh MFA")
    assert one_problem(doc) == (
        "w.yaml:2: speakers[0].id: 'Artsakh MFA' is not a valid id: use lowercase letters, "
        "digits, '-' and '_' (at most 64), starting with a letter or digit"
    )


@pytest.mark.parametrize(
    ("doc", "expected"),
    [
        (
            "speakers:\n"
            "  - {id: a, name: A, side: A, timezone: UTC}\n"
            "  - {id: b, name: B, side: B, timezone: UTC}\n"
            "  - {id: a, name: C, side: C, timezone: UTC}\n",
            "w.yaml:4: speakers[2].id: duplicate id 'a' (first at line 2)",
        ),
        (
            "speakers: []\n"
            "topics:\n"
            "  - id: t\n"
            "    name: T\n"
            "    terms: [x]\n"
            "  - id: t\n"
            "    name: U\n"
            "    terms: [y]\n",
            "w.yaml:6: topics[1].id: duplicate id 't' (first at line 3)",
        ),
        (
            "speakers: []\n"
            "channels:\n"
            "  - {id: c, chat: '@channel_one'}\n"
            "  - {id: c, chat: '@channel_two'}\n",
            "w.yaml:4: channels[1].id: duplicate id 'c' (first at line 3)",
        ),
    ],
    ids=["speaker", "topic", "channel"],
)
def test_duplicate_ids_are_named_with_the_first_line(doc: str, expected: str) -> None:
    assert one_problem(doc) == expected


def test_duplicate_source_across_speakers_is_named() -> None:
    doc = (
        "speakers:\n"
        "  - id: a\n"
        "    name: A\n"
        "    side: A\n"
        "    timezone: UTC\n"
        "    sources:\n"
        "      - x: MFAofArmenia\n"
        "  - id: b\n"
        "    name: B\n"
        "    side: A\n"
        "    timezone: UTC\n"
        "    sources:\n"
        "      - feed: https://example.org/rss\n"
        "      - x: '@mfaofarmenia'\n"
    )
    assert one_problem(doc) == (
        "w.yaml:14: speakers[1].sources[1]: duplicate source 'x:mfaofarmenia' "
        "(first at line 7, speakers[0].sources[0])"
    )


def test_channel_naming_an_unknown_topic_is_named() -> None:
    doc = (
        "speakers: []\n"
        "topics:\n"
        "  - {id: karabakh, name: K, terms: [Karabakh]}\n"
        "channels:\n"
        "  - id: main\n"
        "    chat: '@example_channel'\n"
        "    topics:\n"
        "      - karabakh\n"
        "      - ceasefire\n"
    )
    assert one_problem(doc) == (
        "w.yaml:9: channels[0].topics[1]: unknown topic 'ceasefire' (topics: karabakh)"
    )


def test_channel_with_an_empty_topic_list_is_refused() -> None:
    doc = "speakers: []\nchannels:\n  - id: main\n    chat: '@example_channel'\n    topics: []\n"
    assert one_problem(doc) == (
        "w.yaml:5: channels[0].topics: an empty list sends nothing; "
        "leave 'topics' out to send every topic"
    )


# --- speakers and sources -------------------------------------------------------------------


def test_bad_timezone_is_named() -> None:
    doc = speaker("- x: a").replace("timezone: UTC", "timezone: Asia/Yerevn")
    assert one_problem(doc) == (
        "w.yaml:5: speakers[0].timezone: 'Asia/Yerevn' is not a time zone; "
        "use an IANA name like 'Asia/Yerevan'"
    )


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("0s", "must be between 1s and 7d, got '0s'"),
        ("8d", "must be between 1s and 7d, got '8d'"),
        ("0", "must be between 1s and 7d, got 0"),  # a YAML number: seconds
        ("5 minutes", "not a duration: '5 minutes'; write e.g. '45s', '5m', '1h30m' or a number"),
        ("1m1h", "not a duration: '1m1h'; write e.g. '45s', '5m', '1h30m' or a number"),
        ("-5", "must be between 1s and 7d, got -5"),
        ("'-5'", "not a duration: '-5'; write e.g. '45s', '5m', '1h30m' or a number"),
        ("yes", "expected a duration like '60s', '5m' or '1h30m'"),
        ("[60]", "expected a duration like '60s', '5m' or '1h30m'"),
        ("1.5", "expected a duration like '60s', '5m' or '1h30m'"),
    ],
)
def test_bad_interval_is_named(value: str, message: str) -> None:
    found = one_problem(speaker("- x: a", f"  interval: {value}"))
    assert found.startswith(f"w.yaml:8: speakers[0].sources[0].interval: {message}")


def test_bare_number_interval_is_seconds() -> None:
    w = parse_watchlist(textwrap.dedent(speaker("- x: a", "  interval: 90")), path="w.yaml")
    assert w.speakers[0].sources[0].interval == timedelta(seconds=90)


@pytest.mark.parametrize(
    ("lines", "has"),
    [
        (("- interval: 5m",), "none"),
        (("- x: a", "  feed: https://example.org/rss"), "more than one"),
        (("- x: a", "  telegram: azmfa_official"), "more than one"),
    ],
)
def test_source_needs_exactly_one_place(lines: tuple[str, ...], has: str) -> None:
    assert one_problem(speaker(*lines)) == (
        "w.yaml:7: speakers[0].sources[0]: a source needs exactly one of 'feed:', 'x:' or "
        f"'telegram:', this one has {has}"
    )


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.org/rss",
        "javascript:alert(1)",
        "https://",
        "example.org/rss",
        "https://example.org/a b",
        "http://example.org:99999/rss",
    ],
)
def test_bad_feed_url_is_named(url: str) -> None:
    found = one_problem(speaker(f"- feed: '{url}'"))
    assert found.startswith(f"w.yaml:7: speakers[0].sources[0].feed: {url!r} is not a feed URL")


@pytest.mark.parametrize("handle", ["abcdefghijklmnop", "nk-observer", "@", "a b", "@@a", "ünï"])
def test_bad_x_handle_is_named(handle: str) -> None:
    assert one_problem(speaker(f"- x: '{handle}'")) == (
        f"w.yaml:7: speakers[0].sources[0].x: {handle!r} is not an X handle: "
        "1 to 15 letters, digits or '_', with an optional leading '@'"
    )


def test_bad_match_value_is_named() -> None:
    assert one_problem(speaker("- x: a", "  match: everything")) == (
        "w.yaml:8: speakers[0].sources[0].match: must be 'topics' or 'all', got 'everything'"
    )


def test_negative_backfill_is_named() -> None:
    assert one_problem(speaker("- x: a", "  backfill_alerts: -1")) == (
        "w.yaml:8: speakers[0].sources[0].backfill_alerts: must be at least 0, got -1"
    )


# --- topics ---------------------------------------------------------------------------------


def topic(terms: str, extra: str = "") -> str:
    """A document with one topic; its terms start on line 6."""
    return f"speakers: []\ntopics:\n  - id: t\n    name: T\n{extra}    terms:\n{terms}"


@pytest.mark.parametrize(
    ("terms", "expected"),
    [
        ("      en: []\n", "w.yaml:5: topics[0].terms: a topic needs at least one term"),
        ("      {}\n", "w.yaml:5: topics[0].terms: a topic needs at least one term"),
        ("      en: [a, '  ']\n", "w.yaml:6: topics[0].terms.en[1]: empty term"),
        ("      en: [a, '*']\n", "w.yaml:6: topics[0].terms.en[1]: empty term"),
        ("      - ''\n", "w.yaml:6: topics[0].terms[0]: empty term"),
    ],
)
def test_empty_terms_are_named(terms: str, expected: str) -> None:
    assert one_problem(topic(terms)) == expected


@pytest.mark.parametrize("term", ["Кара*бах", "*огня", "прекращени * огня", "огн**"])
def test_star_inside_a_word_is_named(term: str) -> None:
    assert one_problem(topic(f"      ru: ['{term}']\n")) == (
        f"w.yaml:6: topics[0].terms.ru[0]: '{term}': '*' may only end a word "
        "(it means: any ending of that word)"
    )


def test_star_may_end_any_word_of_a_phrase() -> None:
    # issue 7: one term for every case of an inflected phrase
    doc = topic("      ru: [прекращени* огня, 'атомн* станци*']\n")
    assert parse_watchlist(doc, path="w.yaml").topics[0].terms == (
        Term("прекращени* огня", "ru", False),
        Term("атомн* станци", "ru", True),
    )


def test_bad_language_code_is_named() -> None:
    assert one_problem(topic("      en: [a]\n      Armenian: [b]\n")) == (
        "w.yaml:7: topics[0].terms.Armenian: 'Armenian' is not a language code; "
        "write e.g. 'en', 'hy', 'az', 'ru', 'tr'"
    )


def test_exclude_per_language_keeps_languages() -> None:
    doc = topic("      en: [a]\n") + "    exclude:\n      az: [Qarabağ FK]\n"
    w = parse_watchlist(doc, path="w.yaml")
    assert w.topics[0].exclude == (Term("Qarabağ FK", "az", False),)


def test_bad_priority_is_named() -> None:
    assert one_problem(topic("      en: [a]\n", extra="    priority: high\n")) == (
        "w.yaml:5: topics[0].priority: must be 'urgent', 'normal' or 'low', got 'high'"
    )


# --- channels -------------------------------------------------------------------------------


@pytest.mark.parametrize("chat", ["example_channel", "'@abc'", "'12a'", "'@1channel'", "'-'"])
def test_chat_must_be_a_name_or_a_numeric_id(chat: str) -> None:
    found = one_problem(f"speakers: []\nchannels:\n  - id: c\n    chat: {chat}\n")
    assert found.startswith("w.yaml:4: channels[0].chat: ")
    assert found.endswith(
        "is neither '@name' (5 to 32 letters, digits or '_') nor a numeric chat id"
    )


def test_chat_that_is_not_text_or_number_is_named() -> None:
    assert one_problem("speakers: []\nchannels:\n  - id: c\n    chat: true\n") == (
        "w.yaml:4: channels[0].chat: expected '@channelname' or a numeric chat id"
    )


# --- secrets --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("doc", "where"),
    [
        ("telegram_token: 123:abc\nspeakers: []\n", "w.yaml:1: telegram_token"),
        (speaker("- x: a", "  bearer: AAAA"), "w.yaml:8: speakers[0].sources[0].bearer"),
        (speaker("- x: a", extra="    api_key: k\n"), "w.yaml:6: speakers[0].api_key"),
        (
            "speakers: []\nchannels:\n  - {id: c, chat: '@chan_nel', password: p}\n",
            "w.yaml:3: channels[0].password",
        ),
    ],
)
def test_secrets_in_the_watchlist_are_refused(doc: str, where: str) -> None:
    # Reported once, as a secret, and not again as an unknown key.
    assert one_problem(doc) == (
        f"{where}: looks like a secret: secrets belong in the environment "
        "(see config/settings.example.env), never in the watchlist"
    )


# --- many problems at once ------------------------------------------------------------------


def test_every_problem_is_reported_in_file_order() -> None:
    doc = """\
    speakers:
      - id: a
        name: A
        side: A
        timezone: Mars/Olympus
        sources:
          - feed: ftp://example.org
            interval: 0s
          - x: way_too_long_handle
      - id: a
        name: B
        timezone: UTC
    topics:
      - id: t
        name: T
        terms: {en: []}
    channels:
      - id: c
        chat: nobody
        topics: [nope]
    """
    assert problems(doc) == [
        "w.yaml:5: speakers[0].timezone: 'Mars/Olympus' is not a time zone; "
        "use an IANA name like 'Asia/Yerevan'",
        "w.yaml:7: speakers[0].sources[0].feed: 'ftp://example.org' is not a feed URL: "
        "it must be http:// or https:// with a host",
        "w.yaml:8: speakers[0].sources[0].interval: must be between 1s and 7d, got '0s'",
        "w.yaml:9: speakers[0].sources[1].x: 'way_too_long_handle' is not an X handle: "
        "1 to 15 letters, digits or '_', with an optional leading '@'",
        "w.yaml:10: speakers[1].id: duplicate id 'a' (first at line 2)",
        "w.yaml:10: speakers[1].side: required, but missing",
        "w.yaml:16: topics[0].terms: a topic needs at least one term",
        "w.yaml:19: channels[0].chat: 'nobody' is neither '@name' (5 to 32 letters, digits "
        "or '_') nor a numeric chat id",
        "w.yaml:20: channels[0].topics[0]: unknown topic 'nope' (topics: t)",
    ]


def test_config_error_message_lists_every_problem() -> None:
    doc = speaker("- x: a", "  match: some", "  backfill_alerts: -2")
    with pytest.raises(ConfigError) as info:
        parse_watchlist(doc, path="w.yaml")
    assert str(info.value).splitlines() == [str(p) for p in info.value.problems]
    assert [(p.path, p.line, p.field) for p in info.value.problems] == [
        ("w.yaml", 8, "speakers[0].sources[0].match"),
        ("w.yaml", 9, "speakers[0].sources[0].backfill_alerts"),
    ]


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("speakrs:-[]{}&*!@#'\"\n\t ,ab01"))))
# Found by this test (issue 7): an empty key, as written or as an anchor with no value, was
# mistaken for the language-less term list and crashed the problem report with IndexError.
@example("'': 1")
@example("&0:")
def test_any_text_gives_a_watchlist_or_a_config_error(text: str) -> None:
    try:
        parse_watchlist(text, path="w.yaml")
    except ConfigError as exc:
        assert exc.problems
        assert all(p.path == "w.yaml" for p in exc.problems)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("'': 1", "w.yaml:1: '': unknown key (known: speakers, topics, channels)"),
        ("&0:", "w.yaml:1: '': unknown key (known: speakers, topics, channels)"),
        ("'[key]': 1", "w.yaml:1: [key]: unknown key (known: speakers, topics, channels)"),
    ],
)
def test_odd_keys_are_reported_not_crashed_on(text: str, expected: str) -> None:
    assert expected in problems(text)


def test_a_language_key_that_mimics_the_plain_list_is_refused() -> None:
    doc = """\
        speakers: []
        topics:
          - id: t
            name: T
            terms: {"": [a], en: [b]}
        """
    assert problems(doc) == [
        "w.yaml:5: topics[0].terms.'': '' is not a language code; write e.g. 'en', 'hy', 'az', "
        "'ru', 'tr'"
    ]


def test_plain_term_lists_still_report_their_own_place() -> None:
    doc = """\
        speakers: []
        topics:
          - id: t
            name: T
            terms: [a, " "]
            require: [[" "]]
        """
    assert problems(doc) == [
        "w.yaml:5: topics[0].terms[1]: empty term",
        "w.yaml:6: topics[0].require[0][0]: empty term",
    ]


# --- intervals ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("45s", timedelta(seconds=45)),
        ("5m", timedelta(minutes=5)),
        ("1h", timedelta(hours=1)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("1h 30m", timedelta(hours=1, minutes=30)),
        ("90", timedelta(seconds=90)),  # a bare number is seconds
        ("90m", timedelta(minutes=90)),  # parts may exceed their unit
        ("7d", timedelta(days=7)),
        ("1S", timedelta(seconds=1)),
        (" 2m ", timedelta(minutes=2)),
        (60, timedelta(minutes=1)),
    ],
)
def test_parse_interval_accepts(text: str | int, expected: timedelta) -> None:
    assert parse_interval(text) == expected


@pytest.mark.parametrize("text", ["", "s", "0s", "7d1s", "1.5m", "5 minutes", "1m1h", "1h1h", "-1"])
def test_parse_interval_refuses(text: str) -> None:
    with pytest.raises(ValueError):
        parse_interval(text)


@given(st.integers(min_value=1, max_value=7 * 86400))
def test_hms_text_parses_back(seconds: int) -> None:
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    assert parse_interval(f"{h}h{m}m{s}s") == timedelta(seconds=seconds)


@given(st.integers(min_value=1, max_value=7 * 86400))
def test_format_interval_parses_back(seconds: int) -> None:
    interval = timedelta(seconds=seconds)
    assert parse_interval(format_interval(interval)) == interval


@given(st.text(max_size=20))
def test_parse_interval_raises_only_value_error(text: str) -> None:
    try:
        result = parse_interval(text)
    except ValueError:
        return
    assert timedelta(seconds=1) <= result <= timedelta(days=7)


def test_shipped_timezones_exist() -> None:
    for sp in load_watchlist(SHIPPED).speakers:
        zoneinfo.ZoneInfo(sp.timezone)


# --- require, transliterate, channel times (issue 4) ----------------------------------------


def test_require_groups_and_transliterate_become_model_values() -> None:
    doc = topic(
        "      en: [ceasefire*]\n",
        extra=(
            "    transliterate: true\n"
            "    require:\n"
            "      - [Armenia*, Azerbaijan*]\n"
            "      - en: [violat*]\n"
            "        ru: [нарушен*]\n"
        ),
    )
    (t,) = parse_watchlist(doc, path="w.yaml").topics
    assert t.transliterate is True
    assert t.require == (
        (Term("Armenia", "", True), Term("Azerbaijan", "", True)),
        (Term("violat", "en", True), Term("нарушен", "ru", True)),
    )


def test_require_and_transliterate_default_to_nothing() -> None:
    (t,) = parse_watchlist(topic("      en: [a]\n"), path="w.yaml").topics
    assert (t.require, t.transliterate) == ((), False)


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (
            "    require:\n      - []\n",
            "w.yaml:6: topics[0].require[0]: a require group needs at least one term",
        ),
        ("    require:\n      - en: ['']\n", "w.yaml:6: topics[0].require[0].en[0]: empty term"),
        (
            "    require:\n      - 5\n",
            "w.yaml:6: topics[0].require[0]: expected a list of terms, or a mapping of languages "
            "to lists of terms",
        ),
        (
            "    require:\n      - [Kara*bakh]\n",
            "w.yaml:6: topics[0].require[0][0]: 'Kara*bakh': '*' may only end a word "
            "(it means: any ending of that word)",
        ),
        ("    require: ceasefire\n", "w.yaml:5: topics[0].require: expected a list, got text"),
        (
            "    transliterate: maybe\n",
            "w.yaml:5: topics[0].transliterate: expected true or false, got text",
        ),
    ],
)
def test_bad_require_or_transliterate_is_named(extra: str, expected: str) -> None:
    doc = "speakers: []\ntopics:\n  - id: t\n    name: T\n" + extra + "    terms: [a]\n"
    assert one_problem(doc) == expected


def channel(*lines: str) -> str:
    """A document with one channel; its extra lines start at line 5."""
    body = "".join(f"    {line}\n" for line in lines)
    return f"speakers: []\nchannels:\n  - id: c\n    chat: '@chan_nel'\n{body}"


def test_channel_times_become_model_values() -> None:
    doc = channel("timezone: Asia/Yerevan", "quiet_hours: '23:00-07:30'", "digest: '18:05'")
    (c,) = parse_watchlist(doc, path="w.yaml").channels
    assert (c.timezone, c.quiet_hours, c.digest_at) == (
        "Asia/Yerevan",
        (dt.time(23, 0), dt.time(7, 30)),
        dt.time(18, 5),
    )


def test_channel_times_default_to_utc_and_none() -> None:
    (c,) = parse_watchlist(channel(), path="w.yaml").channels
    assert (c.timezone, c.quiet_hours, c.digest_at) == ("UTC", None, None)


def test_unquoted_times_are_understood() -> None:
    # YAML 1.1 reads 18:00 and 7:30 as numbers (minutes); 07:30 stays text.
    doc = channel("digest: 18:00", "quiet_hours: 22:00-07:30")
    (c,) = parse_watchlist(doc, path="w.yaml").channels
    assert (c.digest_at, c.quiet_hours) == (dt.time(18, 0), (dt.time(22, 0), dt.time(7, 30)))
    (c,) = parse_watchlist(channel("digest: 7:30"), path="w.yaml").channels
    assert c.digest_at == dt.time(7, 30)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (
            "timezone: Asia/Yerevn",
            "channels[0].timezone: 'Asia/Yerevn' is not a time zone; "
            "use an IANA name like 'Asia/Yerevan'",
        ),
        (
            "quiet_hours: '23:00'",
            "channels[0].quiet_hours: expected a span of local times like '23:00-07:00', "
            "got '23:00'",
        ),
        (
            "quiet_hours: '23:00-24:00'",
            "channels[0].quiet_hours: expected a time of day like '23:00-07:00' "
            "(24-hour HH:MM), got '24:00'",
        ),
        (
            "quiet_hours: '08:00-08:00'",
            "channels[0].quiet_hours: '08:00-08:00' is empty: start and end are the same time",
        ),
        (
            "digest: '6pm'",
            "channels[0].digest: expected a time of day like '18:00' (24-hour HH:MM), got '6pm'",
        ),
        (
            "digest: true",
            "channels[0].digest: expected a time of day like '18:00' (24-hour HH:MM), got True",
        ),
    ],
)
def test_bad_channel_times_are_named(line: str, expected: str) -> None:
    assert one_problem(channel(line)) == f"w.yaml:5: {expected}"


def test_shipped_watchlist_uses_the_new_fields() -> None:
    w = load_watchlist(SHIPPED)
    karabakh, ceasefire = w.topic("karabakh"), w.topic("ceasefire")
    assert karabakh is not None and karabakh.transliterate
    assert ceasefire is not None and ceasefire.require
    main = w.channel("main")
    assert main is not None and main.quiet_hours is not None
    zoneinfo.ZoneInfo(main.timezone)


def test_an_oversized_watchlist_is_refused_unread(tmp_path: Path) -> None:
    """Issue 11: a 10 MB file took 25 s and 674 MB before it was refused."""
    big = tmp_path / "big.yaml"
    line = "# " + "padding " * 12 + "\n"
    big.write_text(line * (10_000_000 // len(line) + 1), encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_watchlist(big)
    (problem,) = info.value.problems
    assert str(problem) == (
        f"{big}: larger than 2,000,000 bytes: refused unread "
        "(a watchlist of a thousand sources is under 200 KB)"
    )


def test_a_watchlist_at_the_cap_is_read(tmp_path: Path) -> None:
    ok = tmp_path / "ok.yaml"
    body = "speakers: []\ntopics: []\nchannels: []\n"
    ok.write_text(body + "#" * (100 - len(body) - 1) + "\n", encoding="utf-8")
    assert ok.stat().st_size == 100
    try:
        load_watchlist(ok, max_bytes=100)
    except ConfigError as exc:  # read and validated: only its own problems, never its size
        assert all("larger than" not in str(p) for p in exc.problems)


# --- issue 11: forum topics and media --------------------------------------------------------

FORUM = VALID.replace(
    '    chat: "@example_channel"\n',
    '    chat: "@example_channel"\n'
    "    media: on\n"
    "    threads:\n"
    "      topics: {karabakh: 5}\n"
    "      sides: {artsakh: 12}\n"
    "      default: 1\n",
)


def test_threads_and_media_are_read() -> None:
    main, numeric = parse_watchlist(FORUM, path="w.yaml").channels
    assert main.media and main.threads is not None
    assert (main.threads.topics, main.threads.sides, main.threads.default) == (
        (("karabakh", 5),),
        (("artsakh", 12),),
        1,
    )
    assert not numeric.media and numeric.threads is None  # both off unless asked


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ("sides: {artsakh: 12}", "sides: {georgia: 12}"),
        ("topics: {karabakh: 5}", "topics: {ceasefire: 5}"),
        ("default: 1", "default: 0"),
        ("default: 1", "default: general"),
        ("default: 1", "colour: 1"),
        ("media: on", "media: sometimes"),
    ],
)
def test_threads_and_media_problems_name_file_line_and_field(change: str, problem: str) -> None:
    found = one_problem(FORUM.replace(change, problem))
    expected = {
        "sides: {georgia: 12}": "channels[0].threads.sides.georgia: unknown side 'georgia'",
        "topics: {ceasefire: 5}": "channels[0].threads.topics.ceasefire: unknown topic",
        "default: 0": "channels[0].threads.default: a forum topic's message_thread_id is a "
        "positive number",
        "default: general": "channels[0].threads.default: expected a whole number",
        "colour: 1": "channels[0].threads.colour: unknown key",
        "media: sometimes": "channels[0].media: expected on or off, got 'sometimes'",
    }[problem]
    assert found.startswith("w.yaml:") and expected in found, found
    line = int(found.split(":")[1])
    assert problem.split(":")[0].strip() in FORUM.replace(change, problem).splitlines()[line - 1]


def test_libyaml_reads_every_shipped_watchlist_as_pyyaml_does(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The C loader (15 times faster at start and reload) gives the same watchlist, lines
    included, as the pure-Python one."""
    import yaml

    import bot.watchlist as wl

    root = Path(__file__).resolve().parents[2]
    files = [*sorted((root / "config").glob("*.yaml")), root / "bot" / "demo" / "watchlist.yaml"]
    assert len(files) >= 2
    for file in files:
        text = file.read_text(encoding="utf-8").replace("{feeds}", "https://feeds.example")
        fast = wl.parse_watchlist(text, path=str(file))
        monkeypatch.setattr(wl, "_Loader", yaml.SafeLoader)
        slow = wl.parse_watchlist(text, path=str(file))
        monkeypatch.undo()
        assert fast == slow, file
