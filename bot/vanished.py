"""Which stored posts a channel deleted, from the run of posts its preview still shows. No I/O.

A post is found deleted only when its number lies strictly between two numbers the same fetch
saw, and the fetch did not see it in any form. A post hidden behind "Please open Telegram to view
this post", an album item, a service message: all are seen. The newest and the oldest post of
the window are never judged (their neighbour on one side is not shown): a deleted newest post is
found once a newer one appears.
"""

from __future__ import annotations

from collections.abc import Iterable

from bot.model import PostWindow

__all__ = ["post_number", "vanished"]


def post_number(external_id: str) -> int | None:
    """The post number of a Telegram statement's external id ("channel/123"), else None."""
    _, _, number = external_id.rpartition("/")
    return int(number) if number.isascii() and number.isdigit() else None


def vanished(known: Iterable[tuple[int, str]], window: PostWindow) -> list[int]:
    """Ids of the stored statements (statement id, external id) that `window` shows deleted."""
    out = []
    for statement_id, external_id in known:
        n = post_number(external_id)
        if n is None:
            continue
        if window.low < n < window.high and n not in window.present:
            out.append(statement_id)
    return out
