"""Plain HTML read without html.parser (issue 9: `bot.text._simple_parts`) gives what html.parser
gives: the same parts and tag count, so the same text from `html_to_text`."""

from __future__ import annotations

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from bot import text
from bot.text import _simple_parts, _TextExtractor, html_to_text
from tests.corpus import feed_texts


def parser_parts(markup: str) -> tuple[list[str], int]:
    parser = _TextExtractor()
    parser.feed(markup)
    parser.close()
    return parser.parts, parser.tags


# Tags it reads and tags it must leave to html.parser: known and unknown names in any case,
# attributes quoted, unquoted, valueless and written oddly, self-closing, end tags with more,
# elements html.parser reads in a mode of its own, comments, declarations; text with entities
# whole and cut, lone "<" and "&", and every kind of whitespace.
_PIECES = st.sampled_from(
    [
        "<p>", "</p>", "<P>", "</P >", "<p/>", "<p />", "<br>", "<br/>", "<BR />", "</br>",
        "<li>", "</li>", "<tr>", "<td>", "</td>", "<h2>", "</h2>", "<div>", "</div>", "<span>",
        "<b>", "</b>", "<em>", '<a href="https://x.am/a?b=1&amp;c=2">', "<a href='x'>",
        "<a href=x>", "<a href=x/>", "<a\thref=x\n>", "<a href = \"x\" title>", "</a>",
        '<img src="a.jpg" alt="a > b"/>', "<img src=a.jpg/>", '<a x="1"y="2">', "<a x=\"'\">",
        "<a\u00a0x=1>", "<a x=1\u00a0>", "<a\vx=1>", "</p x>", "</p/>", "</ p>", "<p\x00>",
        "<foo>", "</foo>", "<script>", "</script>", "<style>a<b</style>", "<title>", "<textarea>",
        "<!-- c -->", "<!doctype html>", "<?pi?>", "<![CDATA[x]]>", "<", ">", "< p>", "<3", "a<b",
        "&amp;", "&nbsp;", "&#8217;", "&#x41;", "&#0;", "&am", "&#", "&#x", "&bogus;", "&",
        "text", "Карабах", " ", "  ", "\n", "\r\n", "\t", "\u00a0", "\u2028", "\x00",
    ]
)  # fmt: skip
# Half of the examples of those it reads alone, so that most of them are read without html.parser.
_SIMPLE_PIECES = st.sampled_from(
    [
        "<p>", "</p>", "<P>", "</P >", "<p/>", "<br>", "<BR />", "</br>", "<li>", "</li>", "<td>",
        "<h2>", "</div>", "<b>", "<a href='x'>", "<a href=x>", "<a\thref=x\n>", "</a>",
        '<img src="a.jpg" alt="a > b"/>', "&amp;", "&#8217;", "&am", "&", ">", "text", "Карабах",
        " ", "\n", "\r\n", "\u00a0", "\u2028", "\x00",
    ]
)  # fmt: skip
_MARKUP = st.one_of(st.lists(_PIECES, max_size=40), st.lists(_SIMPLE_PIECES, max_size=40)).map(
    "".join
)


@given(_MARKUP)
@example("<p>a &amp; b</p>\n<p>c</p>")
@example("text &am")
@example("<p>x</p>&copy")
def test_simple_markup_is_read_as_html_parser_reads_it(markup: str) -> None:
    read = _simple_parts(markup)
    if read is not None:
        assert read == parser_parts(markup)


@given(_MARKUP, st.booleans())
def test_html_to_text_is_the_same_with_html_parser_alone(markup: str, paragraphs: bool) -> None:
    fast = html_to_text(markup, paragraphs=paragraphs)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(text, "_simple_parts", lambda _markup: None)
        assert fast == html_to_text(markup, paragraphs=paragraphs)


def test_the_html_feeds_send_is_read_without_html_parser() -> None:
    # The case it exists for: were it to decline this, every item would cost html.parser again.
    markup = (
        '<p>The Ministry <a href="https://mfa.am/en" target=_blank>states</a>:</p>\n'
        "<ul><li>one &amp; two</li><li>three&nbsp;four</li></ul><br/><p><img src='x.jpg' "
        'alt="photo" /><em>End</em>.</p>'
    )
    assert _simple_parts(markup) == parser_parts(markup)


@pytest.mark.corpus
def test_corpus_html_is_read_as_html_parser_reads_it() -> None:
    read = checked = 0
    for path, markup in feed_texts():
        if "<" not in markup:
            continue
        checked += 1
        parts = _simple_parts(markup)
        if parts is not None:
            read += 1
            assert parts == parser_parts(markup), path
    # Most of the corpus's HTML is plain enough (771 of 928 texts when this was written).
    assert read > checked * 0.7
