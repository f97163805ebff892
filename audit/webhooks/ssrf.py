"""Server-side request forgery guard for alert webhooks.

A subscription URL names a host; the host is resolved (``socket.getaddrinfo``, so every spelling
the system resolver accepts -- ``2130706433``, ``0x7f.1``, ``127.1``, ``017700000001`` -- ends up as
the address it really means) and refused when ANY resolved address is not a public unicast one:
loopback, private, link-local, shared (100.64/10), multicast, unspecified, reserved,
documentation, or a cloud metadata address. IPv6 forms that carry an IPv4 address
(IPv4-mapped ``::ffff:a.b.c.d``, IPv4-compatible ``::a.b.c.d``, 6to4 ``2002::/16``, Teredo, NAT64
``64:ff9b::/96`` and ``64:ff9b:1::/48``) are judged by the IPv4 address inside as well.

The check runs when a subscription is made (API and CLI) and again at every delivery: the
dispatcher resolves once, checks every address, and connects to the address it checked
(``pin``), so a name that re-resolves to an internal address between the check and the connect
(DNS rebinding) never reaches it.

``RISKWATCH_WEBHOOK_ALLOW_CIDRS`` lets an operator allow internal receivers on purpose (e.g.
``10.20.0.0/16``); cloud metadata addresses stay refused even then.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from audit.webhooks.spec import SubscriptionError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[..., list[tuple[Any, ...]]]

#: instance metadata endpoints (AWS, GCP, Azure, OpenStack: 169.254.169.254; AWS IPv6; ECS task
#: metadata; Alibaba; Oracle): never a receiver, refused even when an allow-list covers them
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in ("169.254.169.254", "fd00:ec2::254", "169.254.170.2", "100.100.100.200", "192.0.0.192")
)
_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
_IPV4_COMPAT = ipaddress.ip_network("::/96")

# The resolver every check uses; tests replace it (names must not need the internet).
getaddrinfo: Resolver = socket.getaddrinfo


class BlockedAddress(SubscriptionError):
    """The URL's host resolves to an address webhooks may not reach (or does not resolve)."""


def parse_allow_cidrs(value: str | Iterable[str] | None) -> tuple[IPNetwork, ...]:
    """``"10.0.0.0/8, fd12::/16"`` (or a list of CIDRs) → networks; raises ValueError."""
    if value is None:
        return ()
    items = value.split(",") if isinstance(value, str) else list(value)
    out: list[IPNetwork] = []
    for item in items:
        item = item.strip()
        if item:
            try:
                out.append(ipaddress.ip_network(item, strict=False))
            except ValueError as exc:
                raise ValueError(f"not a CIDR: {item!r} ({exc})") from None
    return tuple(out)


def embedded_ipv4(ip: IPAddress) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address carries (mapped, compatible, 6to4, Teredo, NAT64)."""
    if not isinstance(ip, ipaddress.IPv6Address):
        return []
    found: list[ipaddress.IPv4Address] = []
    if ip.ipv4_mapped is not None:
        found.append(ip.ipv4_mapped)
    if ip.sixtofour is not None:
        found.append(ip.sixtofour)
    if ip.teredo is not None:
        found.extend(ip.teredo)
    if any(ip in net for net in _NAT64) or (ip in _IPV4_COMPAT and int(ip) > 1):
        found.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    return found


def _why_not_public(ip: IPAddress) -> str | None:
    if ip in METADATA_ADDRESSES:
        return "a cloud metadata address"
    for flag in ("loopback", "unspecified", "link_local", "multicast", "private", "reserved"):
        if getattr(ip, f"is_{flag}"):
            return flag.replace("_", "-")
    if isinstance(ip, ipaddress.IPv6Address) and ip.is_site_local:
        return "site-local"
    if not ip.is_global:
        return "not globally routable"
    return None


def refusal(ip: IPAddress, allow: Sequence[IPNetwork] = ()) -> str | None:
    """Why ``ip`` may not receive webhooks, or None when it may."""
    ip = _unscoped(ip)
    candidates: list[IPAddress] = [ip, *embedded_ipv4(ip)]
    if any(c in METADATA_ADDRESSES for c in candidates):
        return "a cloud metadata address"
    inner = candidates[1:]

    def allowed(a: IPAddress) -> bool:
        return any(a in net for net in allow)

    for candidate in candidates:
        why = _why_not_public(candidate)
        if why is None or allowed(candidate):
            continue
        if candidate is ip:
            # a wrapper (::ffff:10.0.0.5) of allowed IPv4 addresses is as allowed as they are
            if inner and all(allowed(a) or _why_not_public(a) is None for a in inner):
                continue
            return why
        return f"{why} (IPv4 {candidate} inside)"
    return None


def _unscoped(ip: IPAddress) -> IPAddress:
    if isinstance(ip, ipaddress.IPv6Address) and ip.scope_id:
        return ipaddress.IPv6Address(str(ip).split("%", 1)[0])
    return ip


def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address ``host`` resolves to (in the resolver's order, without repeats)."""
    host = host.strip("[]")
    try:
        infos = getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise BlockedAddress(f"host {host!r} does not resolve: {exc}") from None
    out: list[IPAddress] = []
    for info in infos:
        try:
            ip = ipaddress.ip_address(str(info[4][0]))
        except ValueError:
            continue
        if ip not in out:
            out.append(ip)
    if not out:
        raise BlockedAddress(f"host {host!r} resolves to no IP address")
    return out


@dataclass(frozen=True, slots=True)
class Target:
    """A URL whose host was resolved and checked: connect to ``address``, say ``host``."""

    url: httpx.URL
    address: IPAddress

    def pinned_url(self) -> httpx.URL:
        """The URL with its host replaced by the checked address (the port stays)."""
        return self.url.copy_with(host=str(self.address))

    @property
    def host_header(self) -> str:
        return self.url.netloc.decode("ascii")

    @property
    def sni_hostname(self) -> str:
        return self.url.host


def check_url(url: str, allow: Sequence[IPNetwork] = ()) -> Target:
    """Resolve the URL's host, refuse it when any address is not allowed (BlockedAddress, a
    SubscriptionError), else the target to connect to."""
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise SubscriptionError(f"url is malformed: {exc}") from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise SubscriptionError("url must be an absolute http:// or https:// URL")
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    addresses = resolve(parsed.host, port)
    for ip in addresses:
        why = refusal(ip, allow)
        if why is not None:
            raise BlockedAddress(
                f"refused: host {parsed.host!r} resolves to {ip}, {why}; webhooks go to public "
                "addresses only (RISKWATCH_WEBHOOK_ALLOW_CIDRS allows internal ones)"
            )
    return Target(parsed, addresses[0])
