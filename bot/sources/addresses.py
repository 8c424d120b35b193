"""Which redirects a feed may follow: never from a public address to an internal one. No I/O.

Issue 11: redirects were followed to 169.254.169.254 (cloud metadata), 10.x, [::1] and
localhost ports, so a public feed could make the worker read internal services. A redirect (or
the DNS answer for its host) that leads from a public address to a private, loopback,
link-local or otherwise non-global one is refused. What the operator wrote in the watchlist is
not judged: a local RSSHub or RSS-Bridge is a common setup, and its own redirects to other
local addresses are followed (they do not start from a public address).

DNS rebinding: the redirect's host is resolved for the check and again for the connection, and
a hostile DNS can answer a public address to the first and 127.0.0.1 to the second. So once a
chain of redirects has passed through a public address, every later hop is "public only", and
the answer the connection itself uses is judged again (`answer_refusal`, called by the
transport's resolver) — not only the answer the check saw.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Sequence

__all__ = ["IPAddress", "answer_refusal", "chain_is_public", "is_public", "redirect_refusal"]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def is_public(ip: IPAddress) -> bool:
    """A globally routable address (not private, loopback, link-local, CGNAT, reserved…)."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped  # ::ffff:127.0.0.1 is 127.0.0.1
    return ip.is_global and not ip.is_multicast


def chain_is_public(
    so_far: bool,
    from_ips: Sequence[IPAddress],
    *,
    public: Callable[[IPAddress], bool] = is_public,
) -> bool:
    """Whether the hops after a redirect from `from_ips` must reach public addresses only.

    Sticky: once a chain has touched a public address it stays public only, so a hostile host
    cannot shed the rule by making its own address look internal for one hop."""
    return so_far or any(public(ip) for ip in from_ips)


def redirect_refusal(
    from_ips: Sequence[IPAddress],
    to_ips: Sequence[IPAddress],
    *,
    public: Callable[[IPAddress], bool] = is_public,
    public_chain: bool = False,
) -> str | None:
    """Why a redirect from a host at `from_ips` to one at `to_ips` must not be followed, or
    None when it may. A host with no address at all is refused as a target. `public_chain`:
    an earlier hop of the same chain was public already (see `chain_is_public`)."""
    if not to_ips:
        return "the redirect's host has no address"
    if chain_is_public(public_chain, from_ips, public=public):
        inner = [ip for ip in to_ips if not public(ip)]
        if inner:
            return f"redirect from a public address to an internal one ({inner[0]}) refused"
    return None


def answer_refusal(
    host: str,
    ips: Sequence[IPAddress],
    *,
    public: Callable[[IPAddress], bool] = is_public,
) -> str | None:
    """Why the DNS answer a connection got for `host`, on a hop that must stay public, must not
    be used, or None when it may. One internal address in the answer is enough to refuse: the
    connection could use any of them."""
    inner = [ip for ip in ips if not public(ip)]
    if inner:
        return (
            f"the DNS answer for {host} at connection time is an internal address ({inner[0]}) "
            "after a redirect from a public address: refused (DNS rebinding)"
        )
    return None
