"""Topic matching: which topics a statement is about, and the words that say so. No I/O.

Terms and statements are folded alike (`bot.text.fold`: case, accents, Turkish I, apostrophe and
hyphen variants, invisible characters). A term matches whole words only: its first word must start
a word of the statement and its last word must end one, unless the term is a prefix term ("*"),
whose last word may go on ("Karabağ*" matches "Karabağ'da", "Karabakhi"). A word is a run of
letters and digits of any script. The words of a phrase ("line of contact") match across any run of
whitespace and hyphens; punctuation written inside a term ("U.S.") must be there as written.
An exclude term found in a statement vetoes its whole topic for that statement.

`compile_topics` does the work once: one regular expression (a trie of every term's first word)
finds the few places where some term could start; only those are looked at in Python.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass

from bot.model import Match, MatchedTerm, Term, Topic
from bot.text import fold, fold_with_offsets

__all__ = ["Matcher", "compile_topics", "term_label"]

_WORD = re.compile(r"[^\W_]+")
_SEPARATORS = re.compile(r"[\s\-]+")
_WORD_START = r"(?<![^\W_])"
_WORD_END = r"(?![^\W_])"


def term_label(term: Term) -> str:
    """The term as the watchlist writes it: its text, with "*" for a prefix term."""
    text = term.text.rstrip("*").strip()
    return f"{text}*" if term.prefix or term.text.rstrip().endswith("*") else text


@dataclass(frozen=True, slots=True)
class _Entry:
    """One compiled term."""

    topic: int
    label: str
    words: tuple[str, ...]
    #: the folded text between word k and word k+1; "" means "whitespace or hyphens"
    gaps: tuple[str, ...]
    prefix: bool
    exclude: bool


def _compile_term(topic: int, term: Term, *, exclude: bool) -> _Entry | None:
    label = term_label(term)
    folded = fold(label.rstrip("*"))
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
        exclude=exclude,
    )


class _Node:
    __slots__ = ("children", "exact", "prefix")

    def __init__(self) -> None:
        self.children: dict[str, _Node] = {}
        self.exact = False
        self.prefix = False


def _trie_pattern(exact: Sequence[str], prefixes: Sequence[str]) -> str:
    """A pattern that matches at the start of any of the words (or prefixes) given."""
    root = _Node()
    for word, is_prefix in [(w, False) for w in exact] + [(p, True) for p in prefixes]:
        node = root
        for ch in word:
            node = node.children.setdefault(ch, _Node())
        if is_prefix:
            node.prefix = True
        else:
            node.exact = True

    def emit(node: _Node) -> str:
        if node.prefix:  # any continuation will do: the rest of the subtree adds nothing
            return ""
        alts = [re.escape(ch) + emit(child) for ch, child in sorted(node.children.items())]
        if node.exact:
            alts.append(_WORD_END)
        if len(alts) == 1:
            return alts[0]
        return "(?:" + "|".join(alts) + ")"

    if not root.children:
        return "(?!)"
    return _WORD_START + emit(root)


class Matcher:
    """Compiled topics; `match` tells which of them a statement is about."""

    __slots__ = ("_exact", "_finder", "_prefix", "_prefix_lengths", "_topics")

    def __init__(self, topics: Sequence[Topic]) -> None:
        self._topics = tuple(topics)
        self._exact: dict[str, list[_Entry]] = {}
        self._prefix: dict[str, list[_Entry]] = {}
        for i, topic in enumerate(self._topics):
            for terms, exclude in ((topic.terms, False), (topic.exclude, True)):
                for term in terms:
                    entry = _compile_term(i, term, exclude=exclude)
                    if entry is None:
                        continue
                    if entry.prefix and len(entry.words) == 1:
                        self._prefix.setdefault(entry.words[0], []).append(entry)
                    else:
                        self._exact.setdefault(entry.words[0], []).append(entry)
        self._prefix_lengths = tuple(sorted({len(p) for p in self._prefix}))
        self._finder = re.compile(_trie_pattern(list(self._exact), list(self._prefix)))

    @property
    def topics(self) -> tuple[Topic, ...]:
        """The topics, in the order matches are reported."""
        return self._topics

    def match(self, title: str, text: str) -> tuple[Match, ...]:
        """The topics this statement is about, in topic order, each with the terms found.

        Offsets in the `MatchedTerm`s are code points into ``title + "\\n" + text``.
        """
        full = f"{title}\n{text}"
        folded = fold(full)
        hits: dict[int, list[tuple[int, int, str]]] = {}
        vetoed: set[int] = set()
        for m in self._finder.finditer(folded):
            start = m.start()
            word_m = _WORD.match(folded, start)
            if word_m is None:  # the finder only stops at word starts; kept for the type checker
                continue
            word = word_m.group()
            candidates = list(self._exact.get(word, ()))
            for n in self._prefix_lengths:
                if n > len(word):
                    break
                candidates.extend(self._prefix.get(word[:n], ()))
            for entry in candidates:
                if entry.topic in vetoed:
                    continue
                end = _rest_matches(folded, word_m.end(), word, entry)
                if end < 0:
                    continue
                if entry.exclude:
                    vetoed.add(entry.topic)
                    hits.pop(entry.topic, None)
                else:
                    spans = hits.setdefault(entry.topic, [])
                    if not any(s == start and e == end for s, e, _ in spans):
                        spans.append((start, end, entry.label))
        if not hits:
            return ()
        _, starts, ends = fold_with_offsets(full)
        out: list[Match] = []
        for i in sorted(hits):
            terms = []
            for fs, fe, label in sorted(hits[i]):
                s, e = starts[fs], ends[fe - 1]
                terms.append(MatchedTerm(term=label, found=full[s:e], start=s, end=e))
            out.append(Match(topic_id=self._topics[i].id, terms=tuple(terms)))
        return tuple(out)


def _rest_matches(folded: str, pos: int, first: str, entry: _Entry) -> int:
    """Where in `folded` the term ends if it matches from the word `first` (ending at `pos`)."""
    words = entry.words
    last = len(words) - 1
    if last == 0:
        return pos if (first == words[0] or entry.prefix) else -1
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
