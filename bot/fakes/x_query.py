"""The fake X API's search query language: the subset Watchpost uses, parsed to a tree.

``from:`` (a handle or, as X accepts, a numeric user id), ``is:retweet``/``is:reply``/
``is:quote``, ``lang:``, keywords and quoted phrases, ``OR``, ``-`` and parentheses; AND binds
tighter than OR, as on X (docs.x.com, "Build a query"). Other operators are refused, as the real
API answers an unknown operator with a 400.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["And", "Node", "Not", "Or", "QueryError", "Term", "candidate_authors", "parse_query"]

_ID = re.compile(r"[0-9]{1,19}")
_USERNAME = re.compile(r"[A-Za-z0-9_]{1,15}")


@dataclass(frozen=True, slots=True)
class Term:
    kind: str  # "from", "is", "lang", "word"
    value: str


@dataclass(frozen=True, slots=True)
class Not:
    inner: Node


@dataclass(frozen=True, slots=True)
class And:
    parts: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Or:
    parts: tuple[Node, ...]


Node = Term | Not | And | Or
_QUERY_TOKEN = re.compile(r'\s*(?:(\()|(\))|(-?"[^"]*")|([^\s()]+))')


class QueryError(ValueError):
    pass


def _tokenize(query: str) -> list[str]:
    tokens: list[str] = []
    pos = 0
    while pos < len(query):
        match = _QUERY_TOKEN.match(query, pos)
        if match is None or match.end() == pos:
            if query[pos:].strip():
                raise QueryError(f"Unexpected character at position {pos + 1}")
            break
        token = next(g for g in match.groups() if g is not None)
        tokens.append(token)
        pos = match.end()
    return tokens


class _Parser:
    def __init__(self, tokens: list[str]) -> None:
        self.tokens = tokens
        self.pos = 0

    def peek(self) -> str | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def parse(self) -> Node:
        node = self.disjunction()
        if self.peek() is not None:
            raise QueryError(f"Unexpected '{self.peek()}'")
        return node

    def disjunction(self) -> Node:
        parts = [self.conjunction()]
        while self.peek() == "OR":
            self.pos += 1
            parts.append(self.conjunction())
        return parts[0] if len(parts) == 1 else Or(tuple(parts))

    def conjunction(self) -> Node:
        parts: list[Node] = []
        while (token := self.peek()) is not None and token not in (")", "OR"):
            parts.append(self.unary())
        if not parts:
            raise QueryError("Ambiguous use of OR, or an empty group")
        if not any(_positive(p) for p in parts):
            raise QueryError("Rules must contain a non-negation term")
        return parts[0] if len(parts) == 1 else And(tuple(parts))

    def unary(self) -> Node:
        token = self.tokens[self.pos]
        if token == "-" and self.pos + 1 < len(self.tokens) and self.tokens[self.pos + 1] == "(":
            self.pos += 1
            return Not(self.group())
        if token == "(":
            return self.group()
        self.pos += 1
        if token.startswith("-") and len(token) > 1:
            return Not(_term(token[1:]))
        return _term(token)

    def group(self) -> Node:
        self.pos += 1  # "("
        inner = self.disjunction()
        if self.peek() != ")":
            raise QueryError("Missing closing parenthesis")
        self.pos += 1
        return inner


def _positive(node: Node) -> bool:
    return not isinstance(node, Not)


def _term(token: str) -> Term:
    if token.startswith('"'):
        return Term("word", token.strip('"').casefold())
    name, colon, value = token.partition(":")
    if not colon or name.startswith("http"):
        return Term("word", token.casefold())
    name = name.lower()
    if name == "from":
        if _USERNAME.fullmatch(value) is None and _ID.fullmatch(value) is None:
            raise QueryError(f"Invalid value for operator 'from:' '{value}'")
        return Term("from", value.casefold())
    if name == "is" and value.lower() in ("retweet", "reply", "quote"):
        return Term("is", value.lower())
    if name == "lang" and re.fullmatch(r"[a-z]{2,3}", value):
        return Term("lang", value)
    raise QueryError(f"Reference to invalid operator '{name}'")


def parse_query(query: str) -> Node:
    return _Parser(_tokenize(query)).parse()


def candidate_authors(node: Node) -> set[str] | None:
    """The usernames a match must come from, or None when the query does not restrict them."""
    if isinstance(node, Term):
        return {node.value} if node.kind == "from" else None
    if isinstance(node, Or):
        union: set[str] = set()
        for part in node.parts:
            found = candidate_authors(part)
            if found is None:
                return None
            union |= found
        return union
    if isinstance(node, And):
        known = [a for a in map(candidate_authors, node.parts) if a is not None]
        return set.intersection(*known) if known else None
    return None
