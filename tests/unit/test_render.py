"""Rendering alerts as Telegram HTML: valid, within limits, terms in bold, link kept."""

from __future__ import annotations

import html
import itertools
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.matching import compile_topics
from bot.model import AlertForDelivery, AlertKind, Speaker, StoredStatement, Term, Topic
from bot.render import (
    BURST_WORDS_UNITS,
    MIN_LEN,
    burst_line,
    render_alert,
    render_burst,
    render_plain,
    safe_href,
    visible_units,
)
from bot.text import display_text
from bot.tghtml import TgText, parse_tg_html, utf16_len

NK = Topic(
    "nk", "Nagorno-Karabakh", (Term("Artsakh"), Term("Stepanakert"), Term("Karabağ", prefix=True))
)
TOPICS = {NK.id: NK}
MATCHER = compile_topics([NK])
MFA = Speaker("mfa_am", "Ministry of Foreign Affairs", "MFA", "Armenia", "Asia/Yerevan")
WHEN = datetime(2020, 9, 27, 4, 10, tzinfo=UTC)


def alert(
    title: str,
    text: str,
    url: str | None = "https://mfa.am/en/press-release/2020/09/27/statement/",
    *,
    language: str | None = "en",
    published: datetime = WHEN,
    speaker_id: str = "mfa_am",
) -> AlertForDelivery:
    statement = StoredStatement(
        id=1,
        source_key="feed:https://mfa.am/rss",
        speaker_id=speaker_id,
        external_id="1",
        title=title,
        text=text,
        url=url,
        published_at=published,
        fetched_at=published + timedelta(minutes=1),
        language=language,
        matches=MATCHER.match(title, text),
    )
    return AlertForDelivery(1, "main", "@watch", AlertKind.NEW, 0, statement, published)


def section(parsed: TgText, offset: int, length: int) -> str:
    units = parsed.text.encode("utf-16-le")
    return units[2 * offset : 2 * (offset + length)].decode("utf-16-le")


def bold_texts(parsed: TgText) -> list[str]:
    return [section(parsed, e.offset, e.length) for e in parsed.entities if e.type == "bold"]


def test_example() -> None:
    a = alert(
        "Statement on the shelling",
        "Stepanakert, the capital of Artsakh, was shelled at 07:00. Civilians <3 & more.",
    )
    msg = render_alert(a, MFA, TOPICS)
    parsed = parse_tg_html(msg)
    lines = parsed.text.split("\n")
    assert lines[0] == "🗣 Ministry of Foreign Affairs — MFA · Armenia"
    assert lines[1] == "🕒 27 Sep 2020 04:10 UTC · 08:10 Yerevan (UTC+04:00) · en"
    assert "Statement on the shelling" in parsed.text
    assert "Civilians <3 & more." in parsed.text
    assert bold_texts(parsed) == ["Ministry of Foreign Affairs", "Stepanakert", "Artsakh"]
    assert lines[-1] == "🎯 Matched: Nagorno-Karabakh — Stepanakert, Artsakh"
    links = [e for e in parsed.entities if e.type == "text_link"]
    assert [e.url for e in links] == ["https://mfa.am/en/press-release/2020/09/27/statement/"]


def test_unknown_speaker_and_zone_show_id_and_utc_only() -> None:
    msg = render_plain(alert("", "Artsakh", speaker_id="who_is_it"), None, {})
    assert msg.startswith("🗣 who_is_it\n🕒 27 Sep 2020 04:10 UTC · en\n")
    assert msg.endswith("🎯 Matched: nk — Artsakh")
    nowhere = Speaker("x", "X", "", "", "Mars/Olympus")
    assert "\n🕒 27 Sep 2020 04:10 UTC · en\n" in render_plain(alert("", "Artsakh"), nowhere, {})


def test_local_date_shown_when_it_differs() -> None:
    late = datetime(2020, 9, 27, 22, 30, tzinfo=UTC)
    msg = render_plain(alert("", "x", published=late, language=None), MFA, TOPICS)
    assert "🕒 27 Sep 2020 22:30 UTC · 28 Sep 02:30 Yerevan (UTC+04:00)\n" in msg


def test_title_repeating_the_text_is_left_out() -> None:
    msg = render_plain(alert("Artsakh reports…", "Artsakh reports shelling."), MFA, TOPICS)
    assert msg.count("Artsakh reports") == 1


def test_long_text_is_trimmed_at_a_sentence() -> None:
    text = " ".join(f"Sentence {i} about Artsakh." for i in range(400))
    msg = render_alert(alert("", text), MFA, TOPICS)
    parsed = parse_tg_html(msg)
    assert utf16_len(msg) <= 4096
    body = parsed.text.split("\n\n")[1]
    assert body.endswith(".…")
    assert "https://mfa.am/" in parsed.text


def test_only_http_links() -> None:
    for url in ("javascript:alert(1)", "ftp://mfa.am/x", "mfa.am/x", "", None):
        parsed = parse_tg_html(render_alert(alert("", "x", url), MFA, TOPICS))
        assert not [e for e in parsed.entities if e.type == "text_link"]
    assert safe_href('https://a.am/x y"<z>') == "https://a.am/x%20y%22%3Cz%3E"


def test_max_len_below_minimum_is_refused() -> None:
    with pytest.raises(ValueError):
        render_alert(alert("", "x"), MFA, TOPICS, max_len=MIN_LEN - 1)


# Issue 7: what alerts must never carry into Telegram, whatever the statement holds.
INVISIBLE = set(
    "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c\u200b\u2060\ufeff"
)


def test_bidi_controls_and_zero_width_characters_never_reach_the_message() -> None:
    hidden = "".join(sorted(INVISIBLE))
    title = f"Statement\u202e on {hidden}shelling"
    text = f"Stepa\u200bnakert\u2066 was\u202e shelled.\u200f Civilians\u2060 hurt.{hidden}"
    a = alert(title, text)
    speaker = Speaker("mfa_am", "Ministry\u202e of Foreign Affairs", "MFA\u200b", "Armenia", "UTC")
    parsed = parse_tg_html(render_alert(a, speaker, TOPICS))
    assert not INVISIBLE & set(parsed.text)
    assert "Stepanakert was shelled. Civilians hurt." in parsed.text
    assert "Statement on shelling" in parsed.text
    assert "Ministry of Foreign Affairs — MFA" in parsed.text
    # the matched term is in bold though the stored text hides a zero-width space in it
    assert "Stepanakert" in bold_texts(parsed)
    assert not INVISIBLE & set(render_plain(a, speaker, TOPICS))
    assert a.statement.text == text  # the evidence is not touched


@pytest.mark.parametrize(
    ("stored", "shown"),
    [
        # Persian: the ZWNJ between letters is spelling ("I want"), kept
        ("می\u200cخواهم Artsakh", "می\u200cخواهم Artsakh"),
        # Hindi conjunct control with ZWJ, kept
        ("क्\u200dष Artsakh", "क्\u200dष Artsakh"),
        # emoji sequences hold together with ZWJ: health worker, rainbow flag
        ("👩\u200d⚕️ 🏳️\u200d🌈 Artsakh", "👩\u200d⚕️ 🏳️\u200d🌈 Artsakh"),
        # in a Latin word or at an edge they only hide: dropped
        ("Art\u200csakh \u200dArtsakh\u200d", "Artsakh Artsakh"),
        ("👍\u200c Artsakh", "👍 Artsakh"),
    ],
)
def test_joiners_are_kept_only_where_they_are_spelling(stored: str, shown: str) -> None:
    parsed = parse_tg_html(render_alert(alert("", stored), MFA, TOPICS))
    assert shown in parsed.text


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.characters(codec="utf-8")
        | st.sampled_from([*INVISIBLE, "\u200c", "\u200d", "👩", "\ufe0f", "ش", "क"]),
        max_size=40,
    ).map("".join)
)
def test_display_text_drops_only_invisible_characters_and_maps_offsets(s: str) -> None:
    shown, at = display_text(s)
    assert not INVISIBLE & set(shown)
    assert len(at) == len(s) + 1 and at[-1] == len(shown)
    assert all(a <= b for a, b in itertools.pairwise(at))
    # each kept character is where its offset says, and the dropped ones are all invisible
    kept = [i for i in range(len(s)) if at[i + 1] > at[i]]
    assert "".join(s[i] for i in kept) == shown
    assert all(s[i] in INVISIBLE | {"\u200c", "\u200d"} for i in range(len(s)) if i not in kept)
    assert display_text(shown)[0] == shown  # shown once, shown the same


def test_paragraphs_are_shown_as_paragraphs() -> None:
    paragraphs = [f"Paragraph {n} on Artsakh." for n in range(1, 13)]
    text = "\n\n".join(paragraphs) + "\nSigned,\nthe Ministry"
    parsed = parse_tg_html(render_alert(alert("Statement", text), MFA, TOPICS))
    assert "\n\n".join(paragraphs) + "\nSigned,\nthe Ministry" in parsed.text
    assert bold_texts(parsed).count("Artsakh") == 12


@pytest.mark.parametrize("max_len", [1024, 4096])
def test_long_paragraphs_are_cut_to_fit_between_or_inside_paragraphs(max_len: int) -> None:
    paragraphs = [
        f"Paragraph {n} about Artsakh. " + "Words and more words. " * 30 for n in range(40)
    ]
    text = "\n\n".join(p.strip() for p in paragraphs)
    msg = render_alert(alert("", text), MFA, TOPICS, max_len=max_len)
    parsed = parse_tg_html(msg)
    assert utf16_len(msg) <= max_len
    body = parsed.text.split("🕒")[1]
    assert "Paragraph 0 about Artsakh." in body and "…" in body
    assert "\n\nParagraph 1 about Artsakh." in body
    assert "https://mfa.am/" in parsed.text


nasty = st.lists(
    st.characters(codec="utf-8")
    | st.sampled_from(["<", ">", "&", "&amp;", '"', "🏟", "\u202e", "\u200f", "שלום", "\n", " "]),
    max_size=300,
).map("".join)
terms = st.sampled_from(["Artsakh", "Stepanakert", "Karabağ", "KARABAĞ'da", "Karabağlı"])
hosts = st.from_regex(r"[a-z][a-z0-9-]{0,15}(\.[a-z]{2,6}){1,2}", fullmatch=True)


@st.composite
def statements(draw: st.DrawFn) -> tuple[str, str]:
    pieces = draw(st.lists(st.one_of(nasty, terms), max_size=12))
    text = " ".join(pieces)
    if draw(st.booleans()):
        text = text * draw(st.integers(1, 60))  # huge texts
    return draw(st.one_of(st.just(""), nasty, terms)), text


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    statements(),
    st.sampled_from(["https", "http"]),
    hosts,
    nasty,
    st.one_of(st.none(), nasty.map(lambda n: Speaker("s", n, n, n, "Europe/Moscow"))),
    st.sampled_from([4096, 1024, 2000]),
)
def test_always_valid_within_limits_bold_terms_and_link(
    statement: tuple[str, str],
    scheme: str,
    host: str,
    path: str,
    speaker: Speaker | None,
    max_len: int,
) -> None:
    title, text = statement
    url = f"{scheme}://{host}/{path[:100]}"
    a = alert(title, text, url, language="hy")
    msg = render_alert(a, speaker, TOPICS, max_len=max_len)
    parsed = parse_tg_html(msg)
    assert utf16_len(msg) <= max_len
    assert utf16_len(parsed.text) <= max_len
    assert not INVISIBLE & set(parsed.text)
    # bold marks exactly the matched terms (merged where they overlap), and the speaker's name
    found = {t.found for m in a.statement.matches for t in m.terms}
    bolds = bold_texts(parsed)[1:]
    for b in bolds:
        assert b in found or any(f in b for f in found)
    if "…" not in parsed.text:  # nothing trimmed: every term of the text is in bold
        for m in a.statement.matches:
            for t in m.terms:
                if t.start > len(title):
                    assert any(t.found in b for b in bolds)
    # the link survives unless it alone would take half the message
    href = safe_href(url)
    assert href is not None
    if utf16_len(html.escape(href, quote=True)) <= max_len // 2:
        assert any(e.type == "text_link" for e in parsed.entities)
    assert render_plain(a, speaker, TOPICS, max_len=max_len)


def test_text_is_cut_to_max_text_at_a_sentence() -> None:
    long = "First sentence on Karabakh. " + "Second sentence about Artsakh. " * 200
    a = alert("", long, "https://example.org/x", language="en")
    msg = render_alert(a, None, TOPICS, max_text=300)
    body = parse_tg_html(msg).text
    assert "First sentence on Karabakh." in body and "…" in body
    assert body.count("Second sentence") < 10


def test_an_undated_statement_says_when_it_was_first_seen() -> None:
    from dataclasses import replace

    a = alert("", "Artsakh")
    undated = replace(a, statement=replace(a.statement, published_estimated=True))
    msg = render_plain(undated, MFA, TOPICS)
    assert "\n🕒 first seen 27 Sep 2020 04:10 UTC, no date in the feed · en\n" in msg
    assert "first seen" not in render_plain(a, MFA, TOPICS)


def test_a_burst_line_says_who_when_the_first_words_and_links_even_a_long_address() -> None:
    long_url = "https://mfa.am/en/press-release/" + "x" * 400
    line = burst_line(alert("", "Karabakh " + "word " * 200, long_url), {MFA.id: MFA})
    parsed = parse_tg_html(line)
    assert parsed.text.startswith("• Ministry of Foreign Affairs, 04:10 UTC: Karabakh word")
    assert visible_units(line) < 60 + BURST_WORDS_UNITS + 20
    assert [e.url for e in parsed.entities if e.type == "text_link"] == [long_url]


@given(st.lists(st.text(min_size=1, max_size=300), min_size=1, max_size=40))
@settings(suppress_health_check=[HealthCheck.too_slow], max_examples=50)
def test_a_burst_digest_has_every_line_or_refuses(texts: list[str]) -> None:
    alerts = [alert("", t) for t in texts]
    try:
        out = render_burst(alerts, {MFA.id: MFA})
    except ValueError:
        return  # the plan splits before this happens; a line is never dropped
    parsed = parse_tg_html(out)
    assert utf16_len(parsed.text) <= 4096
    assert parsed.text.count("\n• ") == len(alerts)
