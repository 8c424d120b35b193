"""Which redirects a feed may follow: never from a public address to an internal one. No I/O.

Issue 11: redirects were followed to 169.254.169.254 (cloud metadata), 10.x, [::1] and
localhost ports, so a public feed could make the worker read internal services. A redirect (or
the DNS answer for its host) that leads from a public address to a private, loopback,
link-local or otherwise non-global one is refused. What the operator wrote in the watchlist is
not judged: a local RSSHub or RSS-Bridge is a common setup, and its own redirects to other
local addresses are followed (they do not start from a public address).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Sequence

__all__ = ["IPAddress", "is_public", "redirect_refusal"]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def is_public(ip: IPAddress) -> bool:
    """A globally routable address (not private, loopback, link-local, CGNAT, reserved…)."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped  # ::ffff:127.0.0.1 is 127.0.0.1
    return ip.is_global and not ip.is_multicast


def redirect_refusal(
    from_ips: Sequence[IPAddress],
    to_ips: Sequence[IPAddress],
    *,
    public: Callable[[IPAddress], bool] = is_public,
) -> str | None:
    """Why a redirect from a host at `from_ips` to one at `to_ips` must not be followed, or
    None when it may. A host with no address at all is refused as a target."""
    if not to_ips:
        return "the redirect's host has no address"
    if any(public(ip) for ip in from_ips):
        inner = [ip for ip in to_ips if not public(ip)]
        if inner:
            return f"redirect from a public address to an internal one ({inner[0]}) refused"
    return None
