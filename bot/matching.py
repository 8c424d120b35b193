"""Topic matching: which topics a statement is about, and the words that say so. No I/O.

Terms and statements are folded alike (`bot.text.fold`: case, accents, Turkish I, apostrophe and
hyphen variants, invisible characters, look-alike letters of another script inside a word). A
term matches whole words only: its first word must start a word of the statement and its last
word must end one, unless the term is a prefix term ("*"), whose last word may go on ("Karabağ*"
matches "Karabağ'da", "Karabakhi"). A word is a run of letters and digits of any script. The words
of a phrase ("line of contact") match across any run of whitespace and hyphens; punctuation
written inside a term ("U.S.") must be there as written. Links, e-mail domains and @mentions are
not words (`bot.text.blank_links`); a #hashtag is its word.

A topic matches a statement when one of its terms is found, none of its `exclude` terms is (an
exclude term vetoes the whole topic for that statement), and every one of its `require` groups
has at least one of its terms found; the require terms found are reported with the others. With
`transliterate`, each term, exclude and require term also matches as `bot.text.transliterations`
spells it in the other scripts, reported under the term as written.

`compile_topics` does the work once. Matching a statement is one pass of C code over it (fold,
blank links, split into words) and set intersections with the compiled words; only the rare
statements that share a word with some term are looked at word by word in Python.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from bot.model import Match, MatchedTerm, Term, Topic
from bot.text import blank_links, fold, fold_with_offsets, transliterations

__all__ = ["Matcher", "compile_topics", "term_label"]

_WORD = re.compile(r"[^\W_]+")
_SEPARATORS = re.compile(r"[\s\-]+")
#: single-word prefix terms are looked up by their first letters: this many at most
_HEAD = 5
#: tokens whose words are remembered; past this the memory starts afresh
_CACHE_SIZE = 200_000
#: roles of a compiled term; require group k has role _REQUIRE + k
_TERM, _EXCLUDE, _REQUIRE = 0, 1, 2


def term_label(term: Term) -> str:
    """The term as the watchlist writes it: its text, with "*" for a prefix term."""
    text = term.text.rstrip("*").strip()
    return f"{text}*" if term.prefix or term.text.rstrip().endswith("*") else text


@dataclass(frozen=True, slots=True)
class _Entry:
    """One compiled spelling of a term."""

    topic: int
    label: str
    words: tuple[str, ...]
    #: the folded text between word k and word k+1; "" means "whitespace or hyphens"
    gaps: tuple[str, ...]
    prefix: bool
    role: int
    #: a transliteration, not the spelling written: the written one is reported first
    derived: bool = False


def _compile(
    topic: int, label: str, spelling: str, role: int, *, derived: bool = False
) -> _Entry | None:
    folded = fold(spelling)
    found = list(_WORD.finditer(folded))
    if not found:
        return None
    gaps = []
    for left, right in itertools.pairwise(found):
        gap = folded[left.end() : right.start()]
        gaps.append("" if _SEPARATORS.fullmatch(gap) else gap)
    return _Entry(
        topic=topic,
        label=label,
        words=tuple(m.group() for m in found),
        gaps=tuple(gaps),
        prefix=label.endswith("*"),
        role=role,
        derived=derived,
    )


def _entries(topic: int, term: Term, role: int, transliterate: bool) -> Iterable[_Entry]:
    label = term_label(term)
    body = label.rstrip("*")
    spellings = [body, *transliterations(body)] if transliterate else [body]
    for n, spelling in enumerate(spellings):
        entry = _compile(topic, label, spelling, role, derived=n > 0)
        if entry is not None:
            yield entry


class _Memo(dict[str, tuple[str, ...]]):
    """A bounded memory of a function from text to words; past `_CACHE_SIZE` it starts afresh."""

    def __init__(self, compute: Callable[[str], tuple[str, ...]]) -> None:
        super().__init__()
        self._compute = compute

    def __missing__(self, key: str) -> tuple[str, ...]:
        if len(self) >= _CACHE_SIZE:
            self.clear()
        value = self._compute(key)
        self[key] = value
        return value


class Matcher:
    """Compiled topics; `match` tells which of them a statement is about."""

    __slots__ = ("_first", "_prefixes", "_starters", "_topics")

    def __init__(self, topics: Sequence[Topic]) -> None:
        self._topics = tuple(topics)
        # Statements repeat their words: what a token holds is worked out once.
        self._starters = _Memo(self._starters_of)
        #: entries by their first word, except single-word prefix terms
        self._first: dict[str, list[_Entry]] = {}
        #: single-word prefix terms by length n (at most _HEAD), then by their first n letters
        by_length: dict[int, dict[str, list[_Entry]]] = {}
        for i, topic in enumerate(self._topics):
            roles = [(topic.terms, _TERM), (topic.exclude, _EXCLUDE)]
            roles += [(group, _REQUIRE + k) for k, group in enumerate(topic.require)]
            for terms, role in roles:
                for term in terms:
                    for entry in _entries(i, term, role, topic.transliterate):
                        word = entry.words[0]
                        if entry.prefix and len(entry.words) == 1:
                            n = min(len(word), _HEAD)
                            by_length.setdefault(n, {}).setdefault(word[:n], []).append(entry)
                        else:
                            self._first.setdefault(word, []).append(entry)
        self._prefixes = tuple(sorted(by_length.items()))

    @property
    def topics(self) -> tuple[Topic, ...]:
        """The topics, in the order matches are reported."""
        return self._topics

    def _entries(self, word: str) -> list[_Entry]:
        """The compiled terms that may start at this folded word."""
        found = list(self._first.get(word, ()))
        for n, heads in self._prefixes:
            for entry in heads.get(word[:n], ()):
                if word.startswith(entry.words[0]):
                    found.append(entry)
        return found

    def _starters_of(self, token: str) -> tuple[str, ...]:
        """The folded words of a whitespace-free token that may start a term.

        Folding token by token gives the words that folding the whole text gives: whitespace
        folds to itself, and no word spans it (look-alike letters are settled within a word).
        """
        return tuple(w for w in _WORD.findall(fold(token)) if self._entries(w))

    def match(self, title: str, text: str) -> tuple[Match, ...]:
        """The topics this statement is about, in topic order, each with the terms found.

        Offsets in the `MatchedTerm`s are code points into ``title + "\\n" + text``.
        """
        full = f"{title}\n{text}"
        starters = set(itertools.chain.from_iterable(map(self._starters.__getitem__, full.split())))
        if not starters:
            return ()
        # Some word may start a term: now fold the whole text, where spans and links are known.
        folded, starts, ends = fold_with_offsets(full)
        folded = blank_links(folded)
        # topic -> role -> {(start, end): (derived, label)}
        hits: dict[int, dict[int, dict[tuple[int, int], tuple[bool, str]]]] = {}
        size = len(folded)
        for word in starters:
            entries = self._entries(word)
            # Every whole-word occurrence of the word: found by str.find, bounded by non-letters.
            start = folded.find(word)
            while start >= 0:
                stop = start + len(word)
                if (start == 0 or not folded[start - 1].isalnum()) and (
                    stop == size or not folded[stop].isalnum()
                ):
                    for entry in entries:
                        end = _rest_matches(folded, stop, entry)
                        if end >= 0:
                            spans = hits.setdefault(entry.topic, {}).setdefault(entry.role, {})
                            found = (entry.derived, entry.label)
                            spans[start, end] = min(spans.get((start, end), found), found)
                start = folded.find(word, start + 1)
        out: list[tuple[int, dict[tuple[int, int], tuple[bool, str]]]] = []
        for i in sorted(hits):
            roles = hits[i]
            if _TERM not in roles or _EXCLUDE in roles:
                continue
            groups = len(self._topics[i].require)
            if any(_REQUIRE + k not in roles for k in range(groups)):
                continue
            merged: dict[tuple[int, int], tuple[bool, str]] = {}
            for role in sorted(roles):
                for span, found in roles[role].items():
                    merged.setdefault(span, found)
            out.append((i, merged))
        matches = []
        for i, spans in out:
            terms = []
            for (fs, fe), (_, label) in sorted(spans.items()):
                s, e = starts[fs], ends[fe - 1]
                terms.append(MatchedTerm(term=label, found=full[s:e], start=s, end=e))
            matches.append(Match(topic_id=self._topics[i].id, terms=tuple(terms)))
        return tuple(matches)


def _rest_matches(folded: str, pos: int, entry: _Entry) -> int:
    """Where in `folded` the term ends if it matches from the word ending at `pos`, else -1."""
    words = entry.words
    last = len(words) - 1
    if last == 0:
        return pos
    for k in range(1, last + 1):
        nxt = _WORD.search(folded, pos)
        if nxt is None:
            return -1
        gap = folded[pos : nxt.start()]
        want_gap = entry.gaps[k - 1]
        if not (gap == want_gap if want_gap else _SEPARATORS.fullmatch(gap)):
            return -1
        word = nxt.group()
        if k == last and entry.prefix:
            if not word.startswith(words[k]):
                return -1
        elif word != words[k]:
            return -1
        pos = nxt.end()
    return pos


def compile_topics(topics: Sequence[Topic]) -> Matcher:
    """Compile `topics` once for matching many statements."""
    return Matcher(topics)
