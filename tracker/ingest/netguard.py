"""SSRF guard: decide whether a feed URL, and every address it resolves to, may be fetched.

Two levels:

- `check_url_static(url, ...)` looks only at the URL (scheme, credentials, literal IP addresses, well-known
  metadata and localhost names). No DNS, so it is safe to call while loading configuration offline.
- `check_url(url, ...)` does the static check, then resolves the host (all addresses) and checks each one.
  It returns the addresses, so a caller can connect to exactly what was checked.

`check_address` is the single policy for one IP address. The fetcher's transport (`transport.py`) calls it
again at connect time, on the addresses it actually connects to, which closes the DNS re-binding gap between
the check and the connection.

Policy: loopback, RFC 1918 private, CGNAT (100.64/10) and IPv6 ULA addresses are refused unless
`allow_private` (TRACKER_ALLOW_PRIVATE_FEEDS=1, for tests and private deployments) or the exact address is in
`allow_addresses`. Metadata addresses and names, unspecified, multicast, link-local, reserved, documentation
ranges and IPv4-mapped IPv6 are refused always.
"""

from __future__ import annotations

import ipaddress
import re
import socket
import threading
from collections.abc import Callable, Collection, Sequence

import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Sequence[IPAddress]]
"""(host, port) -> addresses. The default uses getaddrinfo; tests may inject their own (a seam, not a mock)."""

ALLOWED_SCHEMES = frozenset({"http", "https"})
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",  # AWS, GCP, Azure, OpenStack, DigitalOcean
        "169.254.170.2",  # AWS ECS task metadata
        "100.100.100.200",  # Alibaba Cloud
        "fd00:ec2::254",  # AWS IPv6
    )
)
METADATA_NAMES = frozenset(
    {"metadata.google.internal", "metadata.goog", "metadata", "instance-data", "instance-data.ec2.internal"}
)
_PRIVATE_NETWORKS = tuple(
    ipaddress.ip_network(n)
    for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7")
)
_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
# inet_aton accepts legacy numeric forms (2130706433, 0x7f.1, 127.1) that resolvers treat as IPv4 literals.
_LEGACY_NUMERIC_HOST = re.compile(r"^(0x[0-9a-f]+|[0-9]+)(\.(0x[0-9a-f]+|[0-9]+)){0,3}$")


class UnsafeURL(ValueError):
    """The URL must not be fetched (scheme, credentials or destination address)."""


class ResolveError(OSError):
    """The host name could not be resolved (offline, NXDOMAIN, resolver timeout). Not a policy refusal."""


def check_address(
    ip: IPAddress, *, allow_private: bool, allow_addresses: Collection[IPAddress] = frozenset()
) -> None:
    """Raise UnsafeURL if `ip` is not an acceptable destination under the policy in the module docstring."""
    problem = _address_problem(ip, allow_private=allow_private, allow_addresses=allow_addresses)
    if problem:
        raise UnsafeURL(f"refused destination address {ip}: {problem}")


def _address_problem(ip: IPAddress, *, allow_private: bool, allow_addresses: Collection[IPAddress]) -> str | None:
    if ip in METADATA_ADDRESSES:
        return "cloud metadata address"
    if ip in allow_addresses:
        return None
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return "IPv4-mapped IPv6 address"
        embedded = _embedded_ipv4(ip)
        if embedded is not None:
            inner = _address_problem(embedded, allow_private=False, allow_addresses=())
            return f"embeds {embedded} ({inner})" if inner else None
    if ip.is_unspecified:
        return "unspecified address"
    if ip.is_multicast:
        return "multicast address"
    if ip.is_link_local:
        return "link-local address"
    if ip.is_loopback:
        return None if allow_private else "loopback address"
    if any(ip in net for net in _PRIVATE_NETWORKS):
        return None if allow_private else "private address"
    if ip.is_reserved or not ip.is_global:
        return "reserved or non-global address"
    return None


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address carried by 6to4, Teredo or NAT64 addresses, which could reach an internal host."""
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    if any(ip in net for net in _NAT64):
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def literal_address(host: str) -> IPAddress | None:
    """The IP address written in `host` (including legacy numeric IPv4 forms), or None for a name."""
    try:
        return ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        pass
    if _LEGACY_NUMERIC_HOST.match(host.lower()):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return None


def split_url(url: str) -> tuple[str, str, int]:
    """(scheme, ASCII host without trailing dot, port) of a URL as httpx will request it; UnsafeURL if unusable.

    httpx's own parser is used so that the guard and the client agree on the host (no parser differential).
    """
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError) as error:
        raise UnsafeURL(f"invalid URL {url!r}: {error}") from None
    scheme = parsed.scheme.lower()
    if scheme not in ALLOWED_SCHEMES:
        raise UnsafeURL(f"refused scheme {scheme or '(none)'!r}: only http and https feeds are fetched")
    if parsed.userinfo:
        raise UnsafeURL("refused URL with credentials (user:password@)")
    host = parsed.raw_host.decode("ascii").rstrip(".").lower()
    if not host:
        raise UnsafeURL(f"URL has no host: {url!r}")
    port = parsed.port or (443 if scheme == "https" else 80)
    return scheme, host, port


def check_url_static(
    url: str, *, allow_private: bool, allow_addresses: Collection[IPAddress] = frozenset()
) -> IPAddress | None:
    """Check what can be checked without DNS. Returns the literal IP address of the host, if it is one."""
    _, host, _ = split_url(url)
    if host in METADATA_NAMES:
        raise UnsafeURL(f"refused host {host!r}: cloud metadata service")
    if (host == "localhost" or host.endswith(".localhost")) and not allow_private:
        raise UnsafeURL(f"refused host {host!r}: loopback name")
    literal = literal_address(host)
    if literal is not None:
        check_address(literal, allow_private=allow_private, allow_addresses=allow_addresses)
    return literal


def check_url(
    url: str,
    *,
    allow_private: bool,
    resolver: Resolver | None = None,
    allow_addresses: Collection[IPAddress] = frozenset(),
) -> list[IPAddress]:
    """Check a URL fully: static checks, then every address its host resolves to must pass `check_address`.

    Returns the checked addresses (so the caller can connect to one of them). Raises UnsafeURL on a refusal,
    ResolveError when the name does not resolve.
    """
    literal = check_url_static(url, allow_private=allow_private, allow_addresses=allow_addresses)
    if literal is not None:
        return [literal]
    _, host, port = split_url(url)
    addresses = (resolver or system_resolver)(host, port)
    if not addresses:
        raise ResolveError(f"{host} resolved to no addresses")
    for ip in addresses:
        check_address(ip, allow_private=allow_private, allow_addresses=allow_addresses)
    return list(addresses)


def system_resolver(host: str, port: int, timeout: float | None = None) -> list[IPAddress]:
    """All addresses of `host` via getaddrinfo, bounded by `timeout` seconds (getaddrinfo itself has none)."""
    literal = literal_address(host)
    if literal is not None:
        return [literal]
    box: dict[str, object] = {}

    def lookup() -> None:
        try:
            box["infos"] = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError) as error:
            box["error"] = error

    # A daemon thread lets us give up on a slow resolver; the lookup finishes (and is discarded) on its own.
    worker = threading.Thread(target=lookup, name=f"resolve-{host}", daemon=True)
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        raise ResolveError(f"DNS lookup of {host} timed out")
    if "error" in box:
        raise ResolveError(f"DNS lookup of {host} failed: {box['error']}")
    seen: list[IPAddress] = []
    for *_, sockaddr in box["infos"]:  # type: ignore[union-attr]
        ip = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if ip not in seen:
            seen.append(ip)
    return seen
