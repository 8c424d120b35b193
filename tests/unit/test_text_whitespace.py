"""Whitespace folding gives what its first, regex-based implementation gave (kept here as the
reference): issue 9 made it split with str.split(), whose whitespace is the regex's \\s."""

from __future__ import annotations

import re

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from bot.text import _TextExtractor, fold_lines, fold_whitespace, html_to_text
from tests.corpus import feed_texts

_WS = re.compile(r"\s+")
_HSPACE = re.compile(r"[^\S\n]+")
_BREAK = "\x00"


def ref_fold_whitespace(text: str, *, paragraphs: bool = False) -> str:
    if not paragraphs:
        return _WS.sub(" ", text).strip()
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\u2029", "\n\n")
    paras: list[str] = []
    lines: list[str] = []
    for line in text.split("\n"):
        if line and not line.isspace():
            lines.append(line)
        elif lines:
            paras.append(_WS.sub(" ", " ".join(lines)).strip())
            lines = []
    if lines:
        paras.append(_WS.sub(" ", " ".join(lines)).strip())
    return "\n\n".join(paras)


def ref_fold_lines(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    out: list[str] = []
    blank = 0
    for line in _HSPACE.sub(" ", text).split("\n"):
        line = line.strip()
        if not line:
            blank += 1
            continue
        if out:
            out.append("\n\n" if blank else "\n")
        out.append(line)
        blank = 0
    return "".join(out)


def ref_html_to_text(markup: str) -> str:
    """html_to_text(markup, paragraphs=True) for markup with tags and no NUL."""
    parser = _TextExtractor()
    parser.feed(markup)
    parser.close()
    marked = "".join(
        _BREAK if p == "\n" else _BREAK * 2 if p == "\n\n" else p for p in parser.parts
    )
    return ref_fold_lines(_WS.sub(" ", marked).replace(_BREAK, "\n"))


# Every kind of whitespace str.isspace() knows (line and paragraph separators, the ASCII
# separators \x1c-\x1f, NEL, no-break spaces), line ends of each platform, and tags that break.
_PIECES = st.sampled_from(
    [
        "word", "Слово", "a b", " ", "  ", "\t", "\n", "\r\n", "\r", "\n\n", " \n \n ", "\v", "\f",
        "\x1c", "\x1f", "\x85", "\u00a0", "\u1680", "\u2000", "\u2028", "\u2029", "\u3000",
        "\u200b", "<p>", "</p>", "<br>", "<br/>", "<li>", "</li>", "<tr>", "<td>", "<h2>",
        "</div>", "<b>", "&nbsp;", "&#10;", "&amp;", "&#x2028;",
    ]
)  # fmt: skip
_TEXTS = st.lists(_PIECES, max_size=40).map("".join) | st.text(max_size=200)


@given(_TEXTS)
@example("\u2029a\u2029\u2029b")
def test_fold_whitespace_is_the_reference(text: str) -> None:
    assert fold_whitespace(text) == ref_fold_whitespace(text)
    assert fold_whitespace(text, paragraphs=True) == ref_fold_whitespace(text, paragraphs=True)


@given(_TEXTS)
@example(" a \n\n\n b \r\n c ")
def test_fold_lines_is_the_reference(text: str) -> None:
    assert fold_lines(text) == ref_fold_lines(text)


@given(_TEXTS)
@example("<p>a\u2028b</p>\n\n<p> c </p>")
def test_html_to_text_folds_as_the_reference(text: str) -> None:
    markup = "<p>" + text.replace(_BREAK, "")
    assert html_to_text(markup, paragraphs=True) == ref_html_to_text(markup)


@pytest.mark.corpus
def test_corpus_texts_fold_as_the_reference() -> None:
    checked = 0
    for path, text in feed_texts():
        if not text.strip():
            continue
        assert fold_whitespace(text) == ref_fold_whitespace(text)
        assert fold_whitespace(text, paragraphs=True) == ref_fold_whitespace(text, paragraphs=True)
        assert fold_lines(text) == ref_fold_lines(text)
        if "<" in text and _BREAK not in text:
            assert html_to_text(text, paragraphs=True) == ref_html_to_text(text), path
        checked += 1
    assert checked > 1000


# bot.sources.feedparse folds an item's title and text again only when ftfy repaired them
# (issue 9): what these functions give must be what folding gives back unchanged.
@given(_TEXTS | _TEXTS.map(lambda s: "<p>" + s))
@example("a\n\n\nb\r\nc")
def test_texts_of_items_come_folded(text: str) -> None:
    for limit in (None, 10):
        body = html_to_text(text, paragraphs=True, limit=limit)
        assert fold_lines(body) == body
        title = html_to_text(text, limit=limit)
        assert fold_whitespace(title) == title
    plain = fold_whitespace(text, paragraphs=True)
    assert fold_lines(plain) == plain
    line = fold_whitespace(text)
    assert fold_whitespace(line) == line
