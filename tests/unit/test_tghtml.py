"""Telegram HTML parsing, checked against the official server's own test cases."""

from __future__ import annotations

import html

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.tghtml import (
    TgEntity,
    TgHtmlError,
    cut_html,
    html_to_plain,
    parse_tg_html,
    utf16_len,
)

S = "🏟 🏟&lt;"  # 13 bytes of UTF-8: errors after it report byte offset 13

# (markup, expected error) — cases from TDLib's test/message_entities.cpp (check_parse_html).
ERRORS = [
    (
        "&#57311;",
        "Text contains invalid Unicode characters after decoding HTML entities, "
        "check for unmatched surrogate code units",
    ),
    (
        "&#xDFDF",
        "Text contains invalid Unicode characters after decoding HTML entities, "
        "check for unmatched surrogate code units",
    ),
    (S + "<abacaba", "Unclosed start tag at byte offset 13"),
    (S + "<abac aba>", 'Unsupported start tag "abac" at byte offset 13'),
    (S + "<abac>", 'Unsupported start tag "abac" at byte offset 13'),
    (S + "<i   =aba>", 'Empty attribute name in the tag "i" at byte offset 13'),
    (S + "<i    aba>", 'Can\'t find end tag corresponding to start tag "i"'),
    (S + "<i    aba  =  ", 'Unclosed start tag "i" at byte offset 13'),
    (S + "<i    aba  =  190azAz-.,", "Unexpected end of name token at byte offset 27"),
    (S + '<i    aba  =  "&lt;&gt;&quot;>', "Unclosed start tag at byte offset 13"),
    (S + "<i    aba  =  '&lt;&gt;&quot;>", "Unclosed start tag at byte offset 13"),
    (S + "</", "Unexpected end tag at byte offset 13"),
    (S + "<b></b></", "Unexpected end tag at byte offset 20"),
    (S + "<i>a</i   ", "Unclosed end tag at byte offset 17"),
    (S + "<i>a</em   >", 'Unmatched end tag at byte offset 17, expected "</i>", found "</em>"'),
    # and what our renderer must never send
    ("<div>x</div>", 'Unsupported start tag "div" at byte offset 0'),
    ("a < b", 'Unsupported start tag "" at byte offset 2'),
    ("x <", "Unclosed start tag at byte offset 2"),
    ("<b>bold", 'Can\'t find end tag corresponding to start tag "b"'),
    ("<b><i>x</b></i>", 'Unmatched end tag at byte offset 7, expected "</i>", found "</b>"'),
    ("<span>x</span>", 'Tag "span" must have class "tg-spoiler" at byte offset 0'),
    ("<br/>", 'Unsupported start tag "br/" at byte offset 0'),
    ("<tg-emoji emoji-id=abc>x</tg-emoji>", "Invalid custom emoji identifier specified"),
]


@pytest.mark.parametrize(("markup", "error"), ERRORS)
def test_rejects_what_the_server_rejects(markup: str, error: str) -> None:
    with pytest.raises(TgHtmlError) as info:
        parse_tg_html(markup)
    assert str(info.value) == error


def e(kind: str, offset: int, length: int, **kw: str) -> TgEntity:
    return TgEntity(kind, offset, length, **kw)


A = "➡️ ➡️"  # 5 UTF-16 units

# (markup, text, entities) — cases from TDLib's check_parse_html, and a few of ours.
PARSES = [
    ("", "", ()),
    (A, A, ()),
    ("&ge;&lt;&gt;&amp;&quot;&laquo;&raquo;&#12345678;", '&ge;<>&"&laquo;&raquo;&#12345678;', ()),
    ("&Or;", "&Or;", ()),
    ("&#x41;&#66;&amp", "AB&", ()),
    (A + "<i>" + A + "</i>", A + A, (e("italic", 5, 5),)),
    (A + "<em>" + A + "</em>", A + A, (e("italic", 5, 5),)),
    (A + "<strong>" + A + "</strong>", A + A, (e("bold", 5, 5),)),
    (A + "<ins>" + A + "</ins>", A + A, (e("underline", 5, 5),)),
    (A + "<del>" + A + "</del>", A + A, (e("strikethrough", 5, 5),)),
    (A + "<blockquote>" + A + "</blockquote>", A + A, (e("blockquote", 5, 5),)),
    (
        "🏟 🏟<i>🏟 &gt;<b aba   =   caba>&lt🏟</b></i>",
        "🏟 🏟🏟 ><🏟",
        (e("italic", 5, 7), e("bold", 9, 3)),
    ),
    (S + "<i    aba  =  '&lt;&gt;&quot;'>a</>", "🏟 🏟<a", (e("italic", 6, 1),)),
    (S + "<i>a</    >", "🏟 🏟<a", (e("italic", 6, 1),)),
    (S + "<b></b>", "🏟 🏟<", ()),
    ("<i>\n</i>", "\n", (e("italic", 0, 1),)),
    (A + '<span class = "tg-spoiler">' + A + "</span>", A + A, (e("spoiler", 5, 5),)),
    (A + "<tg-spoiler>" + A + "</tg-spoiler>", A + A, (e("spoiler", 5, 5),)),
    ("<a href=telegram.org>\t</a>", "\t", (e("text_link", 0, 1, url="http://telegram.org/"),)),
    (
        "<a   href=  'telegram.org?&lt;'   > </a>",
        " ",
        (e("text_link", 0, 1, url="http://telegram.org/?<"),),
    ),
    ("<a> </a>", " ", ()),
    ("<a>telegram.org </a>", "telegram.org ", ()),
    ("<a>telegram.org</a>", "telegram.org", (e("text_link", 0, 12, url="http://telegram.org/"),)),
    ('<a href="javascript:alert(1)">x</a>', "x", ()),
    ("<a href='tg://user?id=42'>x</a>", "x", (TgEntity("text_mention", 0, 1, user_id=42),)),
    (S + "<pre><code>🏟 🏟&lt;</code></>", "🏟 🏟<🏟 🏟<", (e("pre", 6, 6), e("code", 6, 6))),
    (
        S + '<pre><code class="language-fift">🏟 🏟&lt;</></>',
        "🏟 🏟<🏟 🏟<",
        (e("pre", 6, 6, language="fift"),),
    ),
    (
        S + '<code class="language-fift"><pre>🏟 🏟&lt;</></>',
        "🏟 🏟<🏟 🏟<",
        (e("pre", 6, 6, language="fift"),),
    ),
    (
        S + '<pre><code class="language-fift">🏟 🏟&lt;</> </>',
        "🏟 🏟<🏟 🏟< ",
        (e("pre", 6, 7), e("code", 6, 6)),
    ),
    (
        "<code><i><b> </b></i></code><i><b><code> </code></b></i>",
        "  ",
        (
            e("code", 0, 1),
            e("bold", 0, 1),
            e("italic", 0, 1),
            e("code", 1, 1),
            e("bold", 1, 1),
            e("italic", 1, 1),
        ),
    ),
    (
        '🏟 🏟<b aba   =   caba><tg-emoji emoji-id="1">🏟</tg-emoji>1</b>',
        "🏟 🏟🏟1",
        (e("bold", 5, 3), e("custom_emoji", 5, 2, custom_emoji_id="1")),
    ),
    (
        '<blockquote   cite="" askdlbas nasjdbaj nj12b3>a&lt;<pre  >b;</></>',
        "a<b;",
        (e("blockquote", 0, 4), e("pre", 2, 2)),
    ),
    (
        "<blockquote   expandable=false>a&lt;<pre  >b;</></>",
        "a<b;",
        (e("expandable_blockquote", 0, 4), e("pre", 2, 2)),
    ),
]


@pytest.mark.parametrize(("markup", "text", "entities"), PARSES)
def test_parses_as_the_server_does(markup: str, text: str, entities: tuple[TgEntity, ...]) -> None:
    parsed = parse_tg_html(markup)
    assert parsed.text == text
    assert parsed.entities == entities


def test_utf16_len_counts_surrogate_pairs() -> None:
    assert utf16_len("") == 0
    assert utf16_len("abc") == 3
    assert utf16_len("Արցախ") == 5
    assert utf16_len("🏟") == 2
    assert utf16_len("a🏟b") == 4


def test_html_to_plain_drops_tags() -> None:
    assert html_to_plain('<b>x</b> &amp; <a href="https://a.am">y</a>') == "x & y"


@given(st.text())
def test_escaped_text_round_trips(s: str) -> None:
    parsed = parse_tg_html(html.escape(s, quote=False))
    assert parsed.text == s
    assert parsed.entities == ()


@given(st.text(), st.text(min_size=1))
def test_bold_entity_covers_the_bold_text(before: str, inside: str) -> None:
    parsed = parse_tg_html(f"{html.escape(before)}<b>{html.escape(inside)}</b>")
    assert parsed.entities == (TgEntity("bold", utf16_len(before), utf16_len(inside)),)


@given(st.text(alphabet="<>/&;abi #x\"'=", max_size=30))
def test_never_crashes_other_than_by_rejecting(s: str) -> None:
    try:
        parsed = parse_tg_html(s)
    except TgHtmlError:
        return
    for ent in parsed.entities:
        assert ent.offset >= 0
        assert ent.offset + ent.length <= utf16_len(parsed.text)


# --- cut_html (issue 11: a photo's caption takes 1,024 characters) ---------------------------

_PIECES = st.sampled_from(
    [
        "word ",
        "Karabakh",
        "\n",
        " ",
        "&amp;",
        "&lt;tag&gt;",
        "&#128512;",
        "😀",
        "Ղարաբաղ ",
        "<b>bold words</b>",
        '<a href="https://example.org/?a=1&amp;b=2">a link &amp; more</a>',
        "<i>it <b>nested &quot;q&quot;</b> ok</i>",
        "<blockquote>quoted\nlines</blockquote>",
    ]
)


@given(st.lists(_PIECES, max_size=60), st.integers(min_value=8, max_value=200))
def test_cut_html_halves_are_valid_fit_and_lose_nothing(pieces: list[str], limit: int) -> None:
    html = "".join(pieces)
    head, tail = cut_html(html, limit)
    head_text = parse_tg_html(head).text
    assert utf16_len(head_text) <= limit
    if tail:
        # Nothing is lost or doubled: the two texts are the whole text.
        assert head_text + parse_tg_html(tail).text == parse_tg_html(html).text
    else:
        assert head == html


def test_cut_html_prefers_a_line_end_then_a_space() -> None:
    head, tail = cut_html("<b>Title of a statement</b>\n" + "word " * 10, 30)
    assert head == "<b>Title of a statement</b>\n" and tail == "word " * 10
    # a line end early in the head would waste the caption: a space then
    head, tail = cut_html("<b>Title</b>\n" + "word " * 10, 30)
    assert head == "<b>Title</b>\nword word word word " and tail == "word " * 6
    head, tail = cut_html("<i>" + "word " * 10 + "</i>", 12)
    assert head == "<i>word word </i>" and tail.startswith("<i>word ")
