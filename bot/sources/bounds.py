"""How much of an item becomes a statement's text. No I/O.

Issue 11: a single 9 MB item (under the body cap) drove matching to 872 MB. A statement's
title and text are bounded here; the whole item stays in the statement's raw payload (the
evidence), so nothing is lost, only not matched or shown beyond the bound.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from bot.model import FetchedItem

__all__ = ["MAX_TEXT_CHARS", "MAX_TITLE_CHARS", "bound_items"]

#: far beyond any official statement (a long speech is ~60,000 characters), far below a bomb
MAX_TEXT_CHARS = 100_000
MAX_TITLE_CHARS = 2_000


def bound_items(
    items: Sequence[FetchedItem],
    *,
    max_text: int = MAX_TEXT_CHARS,
    max_title: int = MAX_TITLE_CHARS,
) -> tuple[tuple[FetchedItem, ...], tuple[str, ...]]:
    """The items with titles and texts cut to the bounds (at a space when one is near), and one
    warning per item cut."""
    out: list[FetchedItem] = []
    warnings: list[str] = []
    for item in items:
        if len(item.text) <= max_text and len(item.title) <= max_title:
            out.append(item)
            continue
        warnings.append(
            f"item {item.external_id[:200]!r}: {len(item.title) + len(item.text):,} characters, "
            f"cut to {max_title:,} + {max_text:,} for matching and alerts (kept whole as raw)"
        )
        out.append(replace(item, title=_cut(item.title, max_title), text=_cut(item.text, max_text)))
    return tuple(out), tuple(warnings)


def _cut(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    head = text[:limit]
    space = head.rfind(" ", limit - 200)
    return head[:space] if space > 0 else head
