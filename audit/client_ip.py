"""The client address as the audit log and the lockouts see it.

Behind proxies the address is the rightmost X-Forwarded-For hop that is not one of our trusted proxies
(settings.TRUSTED_PROXIES, addresses or networks): hops further left were written by the client and can be
forged, so the first value is never believed. Without a trusted proxy in front, REMOTE_ADDR is the answer.
"""

from __future__ import annotations

import functools
import ipaddress

from django.conf import settings


@functools.lru_cache(maxsize=8)
def _networks(trusted: tuple[str, ...]) -> tuple:
    networks = []
    for entry in trusted:
        try:
            networks.append(ipaddress.ip_network(entry.strip(), strict=False))
        except ValueError:
            continue
    return tuple(networks)


# Addresses repeat request after request: parsing one costs more than the rest of an audit write's Python.
@functools.lru_cache(maxsize=4096)
def _parse(value: str | None):
    if not value:
        return None
    value = value.strip()
    if value.startswith("[") and "]" in value:  # "[2001:db8::1]:443"
        value = value[1 : value.index("]")]
    elif value.count(":") == 1:  # "203.0.113.7:5123"
        value = value.split(":", 1)[0]
    try:
        return ipaddress.ip_address(value)
    except ValueError:
        return None


def _is_trusted(address, networks) -> bool:
    return any(address in network for network in networks)


def client_ip(request) -> str | None:
    """The caller's IP address as a string, or None when nothing believable is known."""
    networks = _networks(tuple(settings.TRUSTED_PROXIES))
    remote = _parse(request.META.get("REMOTE_ADDR"))
    if remote is None or not _is_trusted(remote, networks):
        return str(remote) if remote is not None else None
    hops = [hop for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if hop.strip()]
    for hop in reversed(hops):
        address = _parse(hop)
        if address is None:
            # A trusted proxy passed on garbage: stop here rather than believe anything further left.
            return str(remote)
        if not _is_trusted(address, networks):
            return str(address)
    return str(remote)
