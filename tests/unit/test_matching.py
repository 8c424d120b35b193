"""Topic matching over real-style statements in English, Armenian, Azerbaijani, Russian, Turkish."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.matching import compile_topics, term_label
from bot.model import Term, Topic
from bot.text import fold

NK = Topic(
    id="nk",
    name="Nagorno-Karabakh",
    terms=(
        Term("Artsakh", "en"),
        Term("Karabakh", "en"),
        Term("Nagorno-Karabakh", "en"),
        Term("line of contact", "en"),
        Term("Արցախ", "hy", prefix=True),
        Term("Ստեփանակերտ", "hy"),
        Term("Qarabağ", "az", prefix=True),
        Term("Xankəndi", "az"),
        Term("Карабах", "ru", prefix=True),
        Term("Арцах", "ru"),
        Term("Karabağ", "tr", prefix=True),
        Term("Dağlık Karabağ", "tr", prefix=True),
    ),
    exclude=(Term("Karabakh horse", "en"), Term("Qarabağ FK", "az")),
)
CORRIDOR = Topic(
    id="lachin",
    name="Lachin corridor",
    terms=(Term("Lachin corridor"), Term("Laçın dəhlizi", "az"), Term("Լաչինի միջանցք", "hy")),
)
MATCHER = compile_topics([NK, CORRIDOR])

# (title, text, {topic: [found, ...]}) — one row per behaviour.
CASES = [
    # English: whole words, possessives, hyphenated compounds
    ("", "Artsakh authorities reported shelling.", {"nk": ["Artsakh"]}),
    ("", "The Artsakhian delegation arrived.", {}),  # not inside a longer word
    ("", "ARTSAKH'S capital", {"nk": ["ARTSAKH"]}),
    ("", "NagornoKarabakh glued", {}),
    ("", "Nagorno-Karabakh talks", {"nk": ["Nagorno-Karabakh", "Karabakh"]}),
    ("", "Nagorno Karabakh talks", {"nk": ["Nagorno Karabakh", "Karabakh"]}),
    ("", "along the Line-of-Contact", {"nk": ["Line-of-Contact"]}),
    ("", "along the line\nof  contact", {"nk": ["line\nof  contact"]}),
    ("", "a line, of contact", {}),
    ("", "The Lachin corridor is closed", {"lachin": ["Lachin corridor"]}),
    ("", "Karabakh horse breeders met", {}),  # excluded: the whole topic is vetoed
    ("Karabakh", "Karabakh horse show", {}),
    # Armenian: case, prefix endings
    ("", "Արցախի Հանրապետության ԱԳՆ", {"nk": ["Արցախի"]}),
    ("", "ԱՐՑԱԽ", {"nk": ["ԱՐՑԱԽ"]}),
    ("", "Ստեփանակերտում", {}),  # not a prefix term
    ("", "Լաչինի միջանցքը", {}),
    ("", "Լաչինի միջանցք փակ է", {"lachin": ["Լաչինի միջանցք"]}),
    # Azerbaijani: schwa, breve, dotless i
    ("", "Qarabağda vəziyyət", {"nk": ["Qarabağda"]}),
    ("", "QARABAG iqtisadi rayonu", {"nk": ["QARABAG"]}),
    ("", "Xankendi şəhəri", {"nk": ["Xankendi"]}),
    ("", "Laçın dəhlizi bağlanıb", {"lachin": ["Laçın dəhlizi"]}),
    ("", "Qarabağ FK qalib gəldi", {}),  # excluded
    # Russian: case, prefix endings, no accents confusion
    ("", "в Нагорном Карабахе", {"nk": ["Карабахе"]}),
    ("", "АРЦАХ", {"nk": ["АРЦАХ"]}),
    ("", "Арцахский", {}),
    # Turkish: apostrophe suffixes, dotted I
    ("KARABAĞ'DA SON DURUM", "", {"nk": ["KARABAĞ"]}),
    ("", "Dağlık Karabağ'da ateşkes", {"nk": ["Dağlık Karabağ", "Karabağ"]}),
    ("", "DAĞLIK KARABAĞ", {"nk": ["DAĞLIK KARABAĞ", "KARABAĞ"]}),
    ("", "karabag", {"nk": ["karabag"]}),
    # nothing relevant
    ("", "Weather in Yerevan is sunny.", {}),
    ("", "", {}),
]


@pytest.mark.parametrize(("title", "text", "expected"), CASES)
def test_matches(title: str, text: str, expected: dict[str, list[str]]) -> None:
    matches = MATCHER.match(title, text)
    got = {m.topic_id: [t.found for t in m.terms] for m in matches}
    assert got == expected
    full = f"{title}\n{text}"
    for m in matches:
        for t in m.terms:
            assert full[t.start : t.end] == t.found


def test_matches_are_in_topic_order_with_terms_as_written() -> None:
    matches = MATCHER.match("", "Lachin corridor and Artsakh and Qarabağa")
    assert [m.topic_id for m in matches] == ["nk", "lachin"]
    assert [t.term for t in matches[0].terms] == ["Artsakh", "Qarabağ*"]


def test_term_label() -> None:
    assert term_label(Term("Karabağ", prefix=True)) == "Karabağ*"
    assert term_label(Term("Karabağ*")) == "Karabağ*"
    assert term_label(Term("Artsakh")) == "Artsakh"


def test_no_topics_match_nothing() -> None:
    assert compile_topics([]).match("Artsakh", "Artsakh") == ()


def test_punctuation_inside_a_term_must_be_there() -> None:
    m = compile_topics([Topic("us", "US", (Term("U.S."),))])
    assert [t.found for t in m.match("", "the U.S. said")[0].terms] == ["U.S"]
    assert m.match("", "the U S said") == ()


def test_many_terms_compile_and_match() -> None:
    topics = [
        Topic(f"t{i}", f"T{i}", tuple(Term(f"word{i}x{j}", prefix=j % 2 == 1) for j in range(20)))
        for i in range(200)
    ]
    m = compile_topics(topics)
    assert [x.topic_id for x in m.match("", "nothing word7x3abc here word150x4 end")] == [
        "t7",
        "t150",
    ]


LETTERS = "abcdefghijklmnopqrstuvwxyzəğışçöüԱաբգդեзжийклмнопАБВ"
words = st.text(alphabet=LETTERS, min_size=1, max_size=12)


@given(st.text(), words, st.text())
def test_a_term_between_spaces_always_matches(before: str, word: str, after: str) -> None:
    m = compile_topics([Topic("t", "T", (Term(word),))])
    text = f"{before} {word} {after}"
    matches = m.match("", text)
    assert matches, (text, word)
    start = 1 + len(before) + 1  # past the title's "\n" and the space
    assert any(
        t.start == start and t.end == start + len(word) and t.found == word
        for t in matches[0].terms
    )


@given(st.text(max_size=200), words, st.booleans())
def test_a_term_never_matches_text_without_it(text: str, word: str, prefix: bool) -> None:
    m = compile_topics([Topic("t", "T", (Term(word, prefix=prefix),))])
    if fold(word) not in fold(f"\n{text}"):
        assert m.match("", text) == ()


@given(st.text(max_size=200), st.lists(words, min_size=1, max_size=4))
def test_found_spans_are_the_original_text(text: str, terms: list[str]) -> None:
    m = compile_topics([Topic("t", "T", tuple(Term(w, prefix=True) for w in terms))])
    full = f"t\n{text} {' '.join(terms)}"
    for match in m.match("t", f"{text} {' '.join(terms)}"):
        for t in match.terms:
            assert full[t.start : t.end] == t.found
            assert fold(t.found).startswith(fold(t.term.rstrip("*")))
