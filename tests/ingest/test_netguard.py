"""The SSRF policy: schemes, credentials, literal and resolved addresses, metadata names."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

import pytest

from tracker.ingest.netguard import (
    IPAddress,
    ResolveError,
    UnsafeURL,
    check_address,
    check_url,
    check_url_static,
    system_resolver,
)


def resolver_for(mapping: dict[str, list[str]]):  # noqa: ANN201 - returns a Resolver
    def resolve(host: str, port: int) -> Sequence[IPAddress]:
        if host not in mapping:
            raise ResolveError(f"no such host {host}")
        return [ipaddress.ip_address(a) for a in mapping[host]]

    return resolve


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://127.0.0.1/", "loopback"),
        ("http://127.1/", "loopback"),  # legacy short form
        ("http://2130706433/", "loopback"),  # decimal form of 127.0.0.1
        ("http://0x7f000001/", "loopback"),
        ("http://[::1]/", "loopback"),
        ("http://localhost:8080/", "loopback"),
        ("http://feeds.localhost/", "loopback"),
        ("http://10.0.0.5/", "private"),
        ("http://172.16.3.4/", "private"),
        ("http://192.168.1.1/", "private"),
        ("http://100.64.0.1/", "private"),  # CGNAT
        ("http://[fd12:3456::1]/", "private"),  # ULA
        ("http://169.254.169.254/latest/meta-data/", "metadata"),
        ("http://[fd00:ec2::254]/", "metadata"),
        ("http://metadata.google.internal/computeMetadata/v1/", "metadata"),
        ("http://METADATA.GOOGLE.INTERNAL./", "metadata"),
        ("http://169.254.1.1/", "link-local"),
        ("http://[fe80::1]/", "link-local"),
        ("http://0.0.0.0/", "unspecified"),
        ("http://[::]/", "unspecified"),
        ("http://224.0.0.1/", "multicast"),
        ("http://240.0.0.1/", "reserved"),
        ("http://192.0.2.10/", "reserved"),  # documentation range
        ("http://[::ffff:127.0.0.1]/", "IPv4-mapped"),
        ("http://[::ffff:8.8.8.8]/", "IPv4-mapped"),
        ("http://[2002:7f00:1::]/", "embeds 127.0.0.1"),  # 6to4 around loopback
        ("http://[64:ff9b::a00:1]/", "embeds 10.0.0.1"),  # NAT64 around private
        ("file:///etc/passwd", "scheme"),
        ("ftp://example.org/feed", "scheme"),
        ("gopher://example.org/", "scheme"),
        ("javascript:alert(1)", "scheme"),
        ("https://user:secret@example.org/feed", "credentials"),
        ("https://user@example.org/feed", "credentials"),
        ("http:///no-host", "no host"),
    ],
)
def test_refused_without_dns(url: str, reason: str) -> None:
    with pytest.raises(UnsafeURL, match=reason):
        check_url(url, allow_private=False, resolver=resolver_for({}))


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1:8080/feed", "http://localhost/feed", "http://10.1.2.3/", "http://[::1]/", "http://[fd00::5]/"],
)
def test_allow_private_lets_loopback_and_private_through(url: str) -> None:
    resolve = resolver_for({"localhost": ["127.0.0.1", "::1"]})
    assert check_url(url, allow_private=True, resolver=resolve)


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/",
        "http://metadata.google.internal/",
        "http://[fd00:ec2::254]/",
        "http://0.0.0.0/",
        "http://169.254.10.10/",
        "file:///etc/passwd",
        "ftp://127.0.0.1/",
        "http://u:p@127.0.0.1/",
    ],
)
def test_allow_private_never_opens_metadata_link_local_or_other_schemes(url: str) -> None:
    with pytest.raises(UnsafeURL):
        check_url(url, allow_private=True, resolver=resolver_for({}))


def test_names_are_checked_on_every_resolved_address() -> None:
    resolve = resolver_for({
        "public.example": ["93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c"],
        "mixed.example": ["93.184.215.14", "10.0.0.7"],
        "meta.example": ["169.254.169.254"],
    })
    assert [str(a) for a in check_url("https://public.example/rss", allow_private=False, resolver=resolve)] == [
        "93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c"]
    with pytest.raises(UnsafeURL, match="10.0.0.7"):
        check_url("https://mixed.example/rss", allow_private=False, resolver=resolve)
    with pytest.raises(UnsafeURL, match="metadata"):
        check_url("https://meta.example/rss", allow_private=True, resolver=resolve)


def test_real_dns_answer_for_localhost_is_refused() -> None:
    # a public-looking name whose (real, getaddrinfo) answer is localhost's: the addresses are what count
    def via_getaddrinfo(host: str, port: int) -> Sequence[IPAddress]:
        return system_resolver("localhost", port)

    with pytest.raises(UnsafeURL, match="loopback"):
        check_url("http://feeds.example.test/", allow_private=False, resolver=via_getaddrinfo)
    assert all(a.is_loopback for a in check_url("http://localhost/", allow_private=True))
    with pytest.raises(UnsafeURL, match="loopback"):
        check_url("http://localhost./", allow_private=False)


def test_unresolvable_name_is_a_resolve_error_not_a_refusal() -> None:
    with pytest.raises(ResolveError):
        check_url("https://feeds.example.invalid/rss", allow_private=False, resolver=resolver_for({}))


def test_static_check_does_not_resolve() -> None:
    assert check_url_static("https://feeds.bbci.co.uk/news/world/rss.xml", allow_private=False) is None
    assert str(check_url_static("http://8.8.8.8/", allow_private=False)) == "8.8.8.8"


def test_allow_addresses_admits_exact_addresses_but_never_metadata() -> None:
    loopback = ipaddress.ip_address("127.0.0.1")
    check_address(loopback, allow_private=False, allow_addresses={loopback})
    with pytest.raises(UnsafeURL):
        check_address(ipaddress.ip_address("127.0.0.2"), allow_private=False, allow_addresses={loopback})
    meta = ipaddress.ip_address("169.254.169.254")
    with pytest.raises(UnsafeURL, match="metadata"):
        check_address(meta, allow_private=True, allow_addresses={meta})
