"""Topic matching over real-style statements in English, Armenian, Azerbaijani, Russian, Turkish."""

from __future__ import annotations

import itertools
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.matching import Role, TopicReport, compile_topics, term_label
from bot.model import Term, Topic
from bot.text import blank_links, fold

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


# --- require, transliterate, links (issue 4) -------------------------------------------------

CEASEFIRE = Topic(
    id="cf",
    name="Ceasefire",
    terms=(Term("ceasefire", "en", prefix=True), Term("прекращение огня", "ru")),
    require=(
        (Term("Armenia", "en", prefix=True), Term("Azerbaijan", "en", prefix=True)),
        (Term("violat", "en", prefix=True), Term("нарушен", "ru", prefix=True)),
    ),
)


def found_by_topic(matcher_topics: list[Topic], title: str, text: str) -> dict[str, list[str]]:
    return {
        m.topic_id: [t.found for t in m.terms]
        for m in compile_topics(matcher_topics).match(title, text)
    }


def test_require_needs_every_group_and_reports_its_terms() -> None:
    text = "Azerbaijan violated the ceasefire near Armenia."
    assert found_by_topic([CEASEFIRE], "", text) == {
        "cf": ["Azerbaijan", "violated", "ceasefire", "Armenia"]
    }
    assert found_by_topic([CEASEFIRE], "", "Azerbaijan and the ceasefire") == {}
    assert found_by_topic([CEASEFIRE], "", "The ceasefire was violated") == {}
    # a require group alone does not make a match
    assert found_by_topic([CEASEFIRE], "", "Armenia violated nothing") == {}


def test_require_terms_may_come_from_the_title() -> None:
    assert found_by_topic([CEASEFIRE], "Azerbaijan", "ceasefire violations") == {
        "cf": ["Azerbaijan", "ceasefire", "violations"]
    }


def test_exclude_vetoes_even_with_require_met() -> None:
    topic = Topic("cf", "CF", CEASEFIRE.terms, exclude=(Term("Idlib"),), require=CEASEFIRE.require)
    assert found_by_topic([topic], "", "Azerbaijan violated the Idlib ceasefire") == {}


def test_transliterate_matches_other_scripts_under_the_term_as_written() -> None:
    names = Topic(
        "names",
        "Names",
        (Term("Карабах", "ru", prefix=True), Term("Stepanakert", "en"), Term("Արցախ", "hy")),
        transliterate=True,
    )
    m = compile_topics([names]).match("", "Karabakh and Степанакерт, Arcax and Artsakh")
    assert [(t.term, t.found) for t in m[0].terms] == [
        ("Карабах*", "Karabakh"),
        ("Stepanakert", "Степанакерт"),
        ("Արցախ", "Arcax"),
        ("Արցախ", "Artsakh"),
    ]
    plain = Topic("names", "Names", names.terms)
    assert compile_topics([plain]).match("", "Karabakh, Степанакерт, Arcax") == ()


def test_a_generated_spelling_is_a_whole_word() -> None:
    # issue 7: the "*" of "Карабах*" stands for Russian endings; "Karabakh*" would also be
    # "Karabakhian" or a run-together word, which the English terms were written to exclude
    topic = Topic("nk", "NK", (Term("Карабах", "ru", prefix=True),), transliterate=True)
    matcher = compile_topics([topic])
    assert matcher.match("", "Karabakhda, Karabakhian, Karabakhi") == ()
    assert [t.found for t in matcher.match("", "Карабахе, Karabakh")[0].terms] == [
        "Карабахе",
        "Karabakh",
    ]


def test_terms_inside_links_and_mentions_do_not_match_but_hashtags_do() -> None:
    m = compile_topics([NK])
    assert m.match("", "https://artsakh.am/karabakh and @Artsakh_MFA") == ()
    assert m.match("", "press@karabakh.info or karabakh.info/en") == ()
    (match,) = m.match("", "#Artsakh #Karabakh")
    assert [t.found for t in match.terms] == ["Artsakh", "Karabakh"]


def test_dodges_are_seen_through() -> None:
    m = compile_topics([NK])
    for dodged in [
        "Kara\u200bbakh",
        "Kara\u00adbakh",
        "Kаrabakh",
        "КАРАБАХ",
        "Кaрабахе",
        "Ar\u200dtsakh",
    ]:
        (match,) = m.match("", f"news from {dodged} today")
        assert match.terms[0].found == dodged


def test_a_phrase_does_not_run_across_a_link() -> None:
    m = compile_topics([NK])
    assert m.match("", "line of https://x.am/a contact") == ()


def test_matching_twice_gives_the_same_answer() -> None:
    m = compile_topics([NK, CORRIDOR, CEASEFIRE])
    text = "Artsakh: Azerbaijan violated the ceasefire on the Lachin corridor"
    assert m.match("t", text) == m.match("t", text)
    assert m.match("t", text)


# A plain reference: one regular expression per term, over the folded text with links blanked
# and CamelCase hashtags cut at their joints.
def split_hashtags(text: str) -> str:
    def cut(m: re.Match[str]) -> str:
        tag = m.group()
        out = [tag[:2]]
        for a, b in itertools.pairwise(tag[1:]):
            joint = (a.islower() and b.isupper()) or a.isdigit() != b.isdigit()
            out.append(" " + b if joint else b)
        return "".join(out)

    return re.sub(r"(?<![\w/&?=#.:~%+-])#[^\W_]+", cut, text)


def reference(topics: list[Topic], title: str, text: str) -> list[str]:
    full = f"{title}\n{text}"
    # a hashtag is read as the words it joins and as the word it is: a term found either way
    readings = [blank_links(fold(full)), blank_links(fold(split_hashtags(full)))]

    def found(term: Term) -> bool:
        words = fold(term.text).split()
        body = r"[\s\-]+".join(
            re.escape(w.rstrip("*")) + (r"[^\W_]*" if w.endswith("*") else "") for w in words
        )
        end = "" if term.prefix else r"(?![^\W_])"
        pattern = re.compile(r"(?<![^\W_])" + body + end)
        return any(pattern.search(folded) for folded in readings)

    return [
        t.id
        for t in topics
        if any(map(found, t.terms))
        and not any(map(found, t.exclude))
        and all(any(map(found, group)) for group in t.require)
    ]


ALPHABET = "abkrst аркбст ԱբԿ-'’.,\u200b\u00ad#@/:\n"
short_words = st.text(alphabet="abkrstаркбстԱբԿ", min_size=1, max_size=4)


def phrase(words: list[tuple[str, bool]]) -> str:
    """Words joined by spaces, each but the last with "*" when it is open (issue 7)."""
    return " ".join(
        w + ("*" if opened and k < len(words) - 1 else "") for k, (w, opened) in enumerate(words)
    )


terms = st.builds(
    Term,
    st.one_of(
        short_words,
        st.lists(st.tuples(short_words, st.booleans()), min_size=2, max_size=3).map(phrase),
    ),
    st.just(""),
    st.booleans(),
)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.builds(
            lambda ts, ex, rq: (ts, ex, rq),
            st.lists(terms, min_size=1, max_size=3),
            st.lists(terms, max_size=1),
            st.lists(st.lists(terms, min_size=1, max_size=2), max_size=2),
        ),
        min_size=1,
        max_size=3,
    ),
    st.text(alphabet=ALPHABET, max_size=80),
)
def test_matcher_agrees_with_one_regex_per_term(
    specs: list[tuple[list[Term], list[Term], list[list[Term]]]], text: str
) -> None:
    topics = [
        Topic(f"t{i}", "T", tuple(ts), tuple(ex), require=tuple(tuple(g) for g in rq))
        for i, (ts, ex, rq) in enumerate(specs)
    ]
    got = [m.topic_id for m in compile_topics(topics).match("", text)]
    assert got == reference(topics, "", text)


# --- issue 7: "*" inside a phrase, CamelCase hashtags ------------------------------------------


@pytest.mark.parametrize(
    ("term", "text", "found"),
    [
        (Term("прекращени* огня", "ru"), "режим прекращения огня", ["прекращения огня"]),
        (Term("прекращени* огня", "ru"), "к прекращению  огня", ["прекращению  огня"]),
        (Term("прекращени* огня", "ru"), "прекращения огнем", []),  # the last word is exact
        (Term("Nagorn* Karabakh", "en"), "Nagorny Karabakh", ["Nagorny Karabakh"]),
        (Term("line* of contact", "en"), "lines of contact", ["lines of contact"]),
        (Term("line of* contact", "en"), "line offf contact", ["line offf contact"]),
        (Term("line of* contact", "en"), "lines of contact", []),  # only the word with "*" opens
        (Term("line of contact", "en", prefix=True), "line of contacts", ["line of contacts"]),
    ],
)
def test_star_ends_the_word_it_follows(term: Term, text: str, found: list[str]) -> None:
    matches = compile_topics([Topic("t", "T", (term,))]).match("", text)
    assert [t.found for m in matches for t in m.terms] == found
    assert all(t.term == term_label(term) for m in matches for t in m.terms)


def test_camel_case_hashtag_spans_are_the_original_text() -> None:
    (match,) = compile_topics([NK]).match("Title", "see #StandWithArtsakh and #LineOfContact!")
    full = "Title\nsee #StandWithArtsakh and #LineOfContact!"
    assert [(t.found, full[t.start : t.end]) for t in match.terms] == [
        ("Artsakh", "Artsakh"),
        ("LineOfContact", "LineOfContact"),
    ]


# --- explain: why a topic matches or not (issue 7, `watchpost match`) ------------------------

CITIES = Topic(
    id="cities",
    name="Cities",
    terms=(Term("Київ", "uk", prefix=True), Term("Kiev", "en"), Term("АЭС", "ru")),
    exclude=(Term("Kyivstar", "en"),),
    require=((Term("attack", "en", prefix=True), Term("обстріл", "uk", prefix=True)),),
    transliterate=True,
)


def hits(report: TopicReport) -> list[tuple[object, ...]]:
    return [
        (h.term, h.lang, h.role, h.group, h.found, h.folded, h.spelling, h.generated)
        for h in (*report.hits, *report.vetoes)
    ]


def test_explain_reports_each_hit_with_the_spelling_that_matched() -> None:
    (report,) = compile_topics([CITIES]).explain("Attack", "on Kyiv, strikes near Київщина")
    assert report.matched
    assert hits(report) == [
        ("attack*", "en", Role.REQUIRE, 0, "Attack", "attack", "attack*", False),
        ("Київ*", "uk", Role.TERM, None, "Kyiv", "kyiv", "kyiv", True),
        ("Київ*", "uk", Role.TERM, None, "Київщина", "київщина", "київ*", False),
    ]
    assert report.vetoes == () and report.unmet == ()
    assert (report.hits[0].start, report.hits[0].end) == (0, 6)


def test_explain_reports_vetoes_and_unmet_require_groups() -> None:
    matcher = compile_topics([CITIES])
    (vetoed,) = matcher.explain("", "Attack: Kyivstar network down in Kiev")
    assert not vetoed.matched
    assert [(h.term, h.found) for h in vetoed.vetoes] == [("Kyivstar", "Kyivstar")]
    (unmet,) = matcher.explain("", "Kiev")
    assert not unmet.matched
    assert [h.found for h in unmet.hits] == ["Kiev"]
    assert unmet.unmet == ((0, ("attack*", "обстріл*")),)
    (nothing,) = matcher.explain("", "Weather in Lviv")
    assert (nothing.matched, nothing.hits, nothing.vetoes) == (False, (), ())


def test_explain_lists_the_generated_spellings() -> None:
    (report,) = compile_topics([CITIES]).explain("", "")
    generated = {(g.term, g.role): g.spellings for g in report.generated}
    assert generated[("Київ*", Role.TERM)] == ("kyiv",)  # whole word: no "*" across scripts
    assert "киев" in generated[("Kiev", Role.TERM)]
    assert generated[("АЭС", Role.TERM)] == ()  # an acronym: none
    assert generated[("Kyivstar", Role.EXCLUDE)]
    assert generated[("обстріл*", Role.REQUIRE)] == ("obstril",)
    plain = Topic("p", "P", CITIES.terms)
    assert compile_topics([plain]).explain("", "")[0].generated == ()


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.builds(
            lambda ts, ex, rq, tr: (ts, ex, rq, tr),
            st.lists(terms, min_size=1, max_size=3),
            st.lists(terms, max_size=1),
            st.lists(st.lists(terms, min_size=1, max_size=2), max_size=2),
            st.booleans(),
        ),
        min_size=1,
        max_size=3,
    ),
    st.text(alphabet=ALPHABET, max_size=80),
)
def test_explain_decides_as_match_does(
    specs: list[tuple[list[Term], list[Term], list[list[Term]], bool]], text: str
) -> None:
    topics = [
        Topic(f"t{i}", "T", tuple(ts), tuple(ex), require=tuple(map(tuple, rq)), transliterate=tr)
        for i, (ts, ex, rq, tr) in enumerate(specs)
    ]
    matcher = compile_topics(topics)
    matches = matcher.match("", text)
    reports = [r for r in matcher.explain("", text) if r.matched]
    assert [r.topic_id for r in reports] == [m.topic_id for m in matches]
    for m, r in zip(matches, reports, strict=True):
        # explain lists every reading's hit; match drops a span inside a wider one of its term
        assert {(t.start, t.end) for t in m.terms} <= {(h.start, h.end) for h in r.hits}
