"""Topic matching: which topics a statement is about, and the words that say so. No I/O.

Terms and statements are folded alike (`bot.text.fold`: case, accents, Turkish I, apostrophe and
hyphen variants, invisible characters, look-alike letters of another script inside a word). A
term matches whole words only: its first word must start a word of the statement and its last
word must end one. A "*" ending a word of the term lets that word go on ("Karabağ*" matches
"Karabağ'da", "Karabakhi"; issue 7: "прекращени* огня" matches "прекращения огня" and
"прекращению огня"). A word is a run of letters and digits of any script. The words of a phrase
("line of contact") match across any run of whitespace and hyphens; punctuation written inside
a term ("U.S.") must be there as written. Links, e-mail domains and @mentions are not words
(`bot.text.blank_links`); a #hashtag is its word, and one that joins words in CamelCase or with
digits ("#StandWithArtsakh", "#Artsakh2020") is also read as the words it joins (issue 7).

A topic matches a statement when one of its terms is found, none of its `exclude` terms is (an
exclude term vetoes the whole topic for that statement), and every one of its `require` groups
has at least one of its terms found; the require terms found are reported with the others. With
`transliterate`, each term, exclude and require term also matches as `bot.text.transliterations`
spells it in the other scripts, reported under the term as written. A generated spelling is a
whole word: the "*" of a term stays with the script it was written in (issue 7: "Киев*" must
not make the English "Kievan" match), and acronyms are not transliterated at all.

`Matcher.explain` tells why, for `watchpost match`: every hit with the spelling that matched,
exclude vetoes, require groups unmet, and the spellings that transliteration generated.

`compile_topics` does the work once. Matching a statement is one pass of C code over it (fold,
blank links, split into words) and set intersections with the compiled words; only the rare
statements that share a word with some term are looked at word by word in Python.
"""

from __future__ import annotations

import enum
import itertools
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from bot.model import Match, MatchedTerm, Term, Topic
from bot.text import blank_links, fold, fold_with_offsets, transliterations

__all__ = [
    "GeneratedSpellings",
    "Hit",
    "Matcher",
    "Role",
    "TopicReport",
    "compile_topics",
    "term_label",
]

_WORD = re.compile(r"[^\W_]+")
_SEPARATORS = re.compile(r"[\s\-]+")
#: single-word prefix terms are looked up by their first letters: this many at most
_HEAD = 5
#: tokens whose words are remembered; past this the memory starts afresh
_CACHE_SIZE = 200_000
#: roles of a compiled term; require group k has role _REQUIRE + k
_TERM, _EXCLUDE, _REQUIRE = 0, 1, 2
# A hashtag: "#" not inside a word or a link (a URL's "#fragment" follows a letter or "/").
_HASHTAG = re.compile(r"(?<![\w/&?=#.:~%+-])#[^\W_]+")


class Role(enum.Enum):
    """What a term does for its topic."""

    TERM = "term"
    EXCLUDE = "exclude"
    REQUIRE = "require"


@dataclass(frozen=True, slots=True)
class Hit:
    """One term found in a statement, and how (for `watchpost match`)."""

    #: the term as the watchlist writes it
    term: str
    #: its language code in the watchlist ("" if none)
    lang: str
    role: Role
    #: for a require term: which group (0-based); else None
    group: int | None
    #: the spelling that matched, folded: the term's own or one transliteration generated
    spelling: str
    #: `spelling` is a transliteration, not the term as written
    generated: bool
    #: the statement's text as written, and folded, where it matched
    found: str
    folded: str
    #: code points into ``title + "\n" + text``
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class GeneratedSpellings:
    """The spellings `transliterate: true` added for one term."""

    term: str
    lang: str
    role: Role
    spellings: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class TopicReport:
    """Why a topic matches a statement, or does not."""

    topic_id: str
    name: str
    matched: bool
    #: terms and require terms found, in text order
    hits: tuple[Hit, ...]
    #: exclude terms found: any one vetoes the topic
    vetoes: tuple[Hit, ...]
    #: the require groups none of whose terms was found: (0-based group index, its term labels)
    unmet: tuple[tuple[int, tuple[str, ...]], ...]
    #: what transliteration generated, per term (empty without `transliterate`)
    generated: tuple[GeneratedSpellings, ...]


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
    #: per word: a "*" ends it, so the statement's word may go on
    open: tuple[bool, ...]
    role: int
    #: a transliteration, not the spelling written: the written one is reported first
    derived: bool = False
    lang: str = ""
    #: the folded spelling, "*" included, as `explain` shows it
    spelling: str = ""


def _compile(
    topic: int,
    label: str,
    spelling: str,
    role: int,
    *,
    derived: bool = False,
    lang: str = "",
) -> _Entry | None:
    folded = fold(spelling)
    found = list(_WORD.finditer(folded))
    if not found:
        return None
    # A "*" right after a word opens that word; it is not punctuation the text must hold.
    open_ = tuple(folded.startswith("*", m.end()) for m in found)
    gaps = []
    for (left, right), opened in zip(itertools.pairwise(found), open_, strict=False):
        gap = folded[left.end() + opened : right.start()]
        gaps.append("" if _SEPARATORS.fullmatch(gap) else gap)
    return _Entry(
        topic=topic,
        label=label,
        words=tuple(m.group() for m in found),
        gaps=tuple(gaps),
        open=open_,
        role=role,
        derived=derived,
        lang=lang,
        spelling=folded.strip(),
    )


def _generated(term: Term) -> tuple[str, ...]:
    """The transliterations of a term: whole words, without its "*" (issue 7).

    The wildcard belongs to the script the term is written in: "Киев*" stands for the Russian
    cases Киева, Киеве, Киевом, while its Latin spelling "kiev*" would also be "Kievan" and
    "Kievstar", which an English term "Kiev" was written to exclude.
    """
    return transliterations(term_label(term).replace("*", ""), term.lang)


def _entries(topic: int, term: Term, role: int, transliterate: bool) -> Iterable[_Entry]:
    label = term_label(term)
    spellings = [label, *_generated(term)] if transliterate else [label]
    for n, spelling in enumerate(spellings):
        entry = _compile(topic, label, spelling, role, derived=n > 0, lang=term.lang)
        if entry is not None:
            yield entry


def _hashtag_joints(text: str) -> list[int]:
    """Where a hashtag joins two words: a lower-case letter then a capital, or letters and digits.

    Issue 7: "#StandWithArtsakh" is the words Stand, With, Artsakh. A run of capitals is left
    whole ("#FreePOWs" is Free, POWs), since where it ends cannot be told.
    """
    joints: list[int] = []
    for m in _HASHTAG.finditer(text):
        tag = m.group()
        for j in range(2, len(tag)):
            a, b = tag[j - 1], tag[j]
            if (a.islower() and b.isupper()) or a.isdigit() != b.isdigit():
                joints.append(m.start() + j)
    return joints


def _split_hashtags(text: str) -> tuple[str, list[int] | None]:
    """`text` with a space at each hashtag joint, and a map back (None: no joint, no change).

    ``back[i]`` is the index in `text` of character `i` of the result (an inserted space maps
    to the character after it).
    """
    joints = _hashtag_joints(text) if "#" in text else []
    if not joints:
        return text, None
    pieces: list[str] = []
    back: list[int] = []
    prev = 0
    for j in joints:
        pieces += [text[prev:j], " "]
        back += [*range(prev, j), j]
        prev = j
    pieces.append(text[prev:])
    back += range(prev, len(text))
    return "".join(pieces), back


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
    """Compiled topics; `match` tells which of them a statement is about, `explain` why."""

    __slots__ = ("_first", "_prefixes", "_starters", "_topics")

    def __init__(self, topics: Sequence[Topic]) -> None:
        self._topics = tuple(topics)
        # Statements repeat their words: what a token holds is worked out once.
        self._starters = _Memo(self._starters_of)
        #: entries by their first word, except those whose first word is open ("*")
        self._first: dict[str, list[_Entry]] = {}
        #: entries with an open first word, by its length n (at most _HEAD), then first n letters
        by_length: dict[int, dict[str, list[_Entry]]] = {}
        for i, topic in enumerate(self._topics):
            for terms, role in _roles(topic):
                for term in terms:
                    for entry in _entries(i, term, role, topic.transliterate):
                        word = entry.words[0]
                        if entry.open[0]:
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
        folds to itself, and no word spans it (look-alike letters are settled within a word);
        a hashtag's joints depend only on the hashtag and the character before its "#", which
        is whitespace or nothing at a token's start.
        """
        if "#" in token:
            token = f"{token} {_split_hashtags(token)[0]}"  # both readings of its hashtags
        return tuple(w for w in _WORD.findall(fold(token)) if self._entries(w))

    def _scan(self, full: str) -> list[tuple[_Entry, int, int]] | None:
        """Every compiled term found in `full`, with its span in `full`; None if none can be."""
        starters = set(itertools.chain.from_iterable(map(self._starters.__getitem__, full.split())))
        if not starters:
            return None
        # Some word may start a term: now fold the whole text, where spans and links are known.
        found: list[tuple[_Entry, int, int]] = []
        split, back = _split_hashtags(full)
        self._find(full, None, starters, found)
        if back is not None:
            # Issue 7: a CamelCase hashtag is read both as the words it joins (#StandWithArtsakh)
            # and as the one word it is (#DiCarlo, a name; #КарабаХ, a dodge): either reading
            # finds a term, an exclude term too.
            self._find(split, back, starters, found)
        return found

    def _find(
        self,
        text: str,
        back: list[int] | None,
        starters: Iterable[str],
        found: list[tuple[_Entry, int, int]],
    ) -> None:
        """Add to `found` every compiled term in `text` starting at one of `starters`."""
        folded, starts, ends = fold_with_offsets(text)
        folded = blank_links(folded)
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
                            s, e = starts[start], ends[end - 1]
                            if back is not None:
                                s, e = back[s], back[e - 1] + 1
                            found.append((entry, s, e))
                start = folded.find(word, start + 1)

    def _decide(self, i: int, roles: Iterable[int]) -> bool:
        """Topic `i` matches when a term is found, no exclude term, and every require group."""
        present = set(roles)
        if _TERM not in present or _EXCLUDE in present:
            return False
        return all(_REQUIRE + k in present for k in range(len(self._topics[i].require)))

    def match(self, title: str, text: str) -> tuple[Match, ...]:
        """The topics this statement is about, in topic order, each with the terms found.

        Offsets in the `MatchedTerm`s are code points into ``title + "\\n" + text``.
        """
        full = f"{title}\n{text}"
        found = self._scan(full)
        if not found:
            return ()
        # topic -> role -> {(start, end): (derived, label)}
        hits: dict[int, dict[int, dict[tuple[int, int], tuple[bool, str]]]] = {}
        for entry, s, e in found:
            spans = hits.setdefault(entry.topic, {}).setdefault(entry.role, {})
            key = (entry.derived, entry.label)
            spans[s, e] = min(spans.get((s, e), key), key)
        matches = []
        for i in sorted(hits):
            roles = hits[i]
            if not self._decide(i, roles):
                continue
            merged: dict[tuple[int, int], tuple[bool, str]] = {}
            for role in sorted(roles):
                for span, key in roles[role].items():
                    merged.setdefault(span, key)
            if len(merged) > 1:
                merged = _widest(merged)
            terms = tuple(
                MatchedTerm(term=label, found=full[s:e], start=s, end=e)
                for (s, e), (_, label) in sorted(merged.items())
            )
            matches.append(Match(topic_id=self._topics[i].id, terms=terms))
        return tuple(matches)

    def explain(self, title: str, text: str) -> tuple[TopicReport, ...]:
        """Why each topic matches this statement or not, in topic order (`watchpost match`).

        A report's `matched` is what `match` decides: the two share the search and the rule.
        """
        full = f"{title}\n{text}"
        found = self._scan(full) or []
        by_topic: dict[int, list[Hit]] = {}
        roles_found: dict[int, set[int]] = {}
        for entry, s, e in sorted(found, key=lambda f: (f[1], f[2], f[0].derived, f[0].label)):
            roles_found.setdefault(entry.topic, set()).add(entry.role)
            hit = _hit(entry, full, s, e)
            if hit not in by_topic.get(entry.topic, ()):
                by_topic.setdefault(entry.topic, []).append(hit)
        reports = []
        for i, topic in enumerate(self._topics):
            hits = by_topic.get(i, [])
            present = roles_found.get(i, set())
            reports.append(
                TopicReport(
                    topic_id=topic.id,
                    name=topic.name,
                    matched=self._decide(i, present),
                    hits=tuple(h for h in hits if h.role is not Role.EXCLUDE),
                    vetoes=tuple(h for h in hits if h.role is Role.EXCLUDE),
                    unmet=tuple(
                        (k, tuple(term_label(t) for t in group))
                        for k, group in enumerate(topic.require)
                        if _REQUIRE + k not in present
                    ),
                    generated=_generated_for(topic),
                )
            )
        return tuple(reports)


def _widest(
    spans: dict[tuple[int, int], tuple[bool, str]],
) -> dict[tuple[int, int], tuple[bool, str]]:
    """`spans` without those inside a wider span of the same term (one hashtag, two readings)."""
    return {
        (s, e): key
        for (s, e), key in spans.items()
        if not any(
            k[1] == key[1] and s2 <= s and e <= e2 and (s2, e2) != (s, e)
            for (s2, e2), k in spans.items()
        )
    }


def _roles(topic: Topic) -> list[tuple[tuple[Term, ...], int]]:
    roles = [(topic.terms, _TERM), (topic.exclude, _EXCLUDE)]
    return roles + [(group, _REQUIRE + k) for k, group in enumerate(topic.require)]


def _role(role: int) -> tuple[Role, int | None]:
    if role >= _REQUIRE:
        return Role.REQUIRE, role - _REQUIRE
    return (Role.TERM if role == _TERM else Role.EXCLUDE), None


def _hit(entry: _Entry, full: str, start: int, end: int) -> Hit:
    role, group = _role(entry.role)
    return Hit(
        term=entry.label,
        lang=entry.lang,
        role=role,
        group=group,
        spelling=entry.spelling,
        generated=entry.derived,
        found=full[start:end],
        folded=fold(full[start:end]),
        start=start,
        end=end,
    )


def _generated_for(topic: Topic) -> tuple[GeneratedSpellings, ...]:
    if not topic.transliterate:
        return ()
    out = []
    for terms, role in _roles(topic):
        for term in terms:
            out.append(
                GeneratedSpellings(term_label(term), term.lang, _role(role)[0], _generated(term))
            )
    return tuple(out)


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
        if entry.open[k]:
            if not word.startswith(words[k]):
                return -1
        elif word != words[k]:
            return -1
        pos = nxt.end()
    return pos


def compile_topics(topics: Sequence[Topic]) -> Matcher:
    """Compile `topics` once for matching many statements."""
    return Matcher(topics)
