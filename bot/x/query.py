"""Recent-search queries for batched polling: ``from:<id> OR …`` within a length. No I/O."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

__all__ = ["HANDLE", "MAX_ID_DIGITS", "batch_query", "ids_per_batch", "pack_batches"]

#: an X handle
HANDLE = re.compile(r"[A-Za-z0-9_]{1,15}")
#: what may follow ``from:``: a handle, or a numeric user id (issue 8: ids cannot be re-registered)
_FROM = re.compile(r"[A-Za-z0-9_]{1,15}|[0-9]{1,19}")
#: a user id's longest decimal form: batches are packed for ids this long, as they are sent
#: (issue 8: accounts are searched as ``from:<id>``, which a rename cannot hand to someone else)
MAX_ID_DIGITS = 19


def batch_query(handles: Sequence[str], suffix: str = "") -> str:
    """The recent-search query for `handles`, exactly as it is sent.

    `suffix` holds operators for every handle (``-is:retweet``); the ``from:`` part is then
    parenthesized because X applies AND before OR.
    """
    core = " OR ".join(f"from:{h}" for h in handles)
    if not suffix.strip():
        return core
    return f"({core}) {suffix.strip()}"


def ids_per_batch(max_query_length: int, suffix: str = "") -> int:
    """How many accounts one query names when each is ``from:<id>`` with the longest id.

    Raises:
        ValueError: not even one fits.
    """
    one = "9" * MAX_ID_DIGITS
    n = 0
    while len(batch_query([one] * (n + 1), suffix)) <= max_query_length:
        n += 1
    if n == 0:
        raise ValueError(f"no from:<id> fits in {max_query_length} characters")
    return n


def pack_batches(
    handles: Iterable[str], max_query_length: int, *, suffix: str = ""
) -> tuple[tuple[str, ...], ...]:
    """Pack handles greedily, in the order given, into queries no longer than the limit.

    The length is that of the query string as sent, in characters, as X counts it. Callers that
    want accounts of similar freshness together pass the handles sorted by freshness, as
    `plan_polling` does. A handle given twice (in any case) is packed once.

    Raises:
        ValueError: a handle is not an X handle, or one handle alone does not fit.
    """
    batches: list[tuple[str, ...]] = []
    current: list[str] = []
    seen: set[str] = set()
    for h in handles:
        if not _FROM.fullmatch(h):
            raise ValueError(f"not an X handle or user id: {h!r}")
        if h.lower() in seen:
            continue
        seen.add(h.lower())
        if len(batch_query([h], suffix)) > max_query_length:
            raise ValueError(f"the query for {h!r} alone is longer than {max_query_length}")
        if current and len(batch_query([*current, h], suffix)) > max_query_length:
            batches.append(tuple(current))
            current = []
        current.append(h)
    if current:
        batches.append(tuple(current))
    return tuple(batches)
