"""fetch_feed against a real HTTP server on 127.0.0.1 (TRACKER_ALLOW_PRIVATE_FEEDS semantics via allow_private)."""

from __future__ import annotations

import gzip
import ipaddress
import itertools
import time
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.ingest.feedserver import FeedServer, Reply
from tests.ingest.tlscert import LocalPKI, make_pki
from tracker.config import Settings
from tracker.ingest.fetch import USER_AGENT, FetchKind, FetchSettings, fetch_feed, parse_max_age, parse_retry_after

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "feeds" / "samples"
RSS = (
    b'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>t</title>'
    b"<item><title>one</title><link>https://example.org/1</link></item></channel></rss>"
)
LOOPBACK = ipaddress.ip_address("127.0.0.1")


@pytest.fixture
def server() -> Iterator[FeedServer]:
    with FeedServer() as running:
        yield running


@pytest.fixture
def settings() -> FetchSettings:
    return FetchSettings(allow_private=True, connect_timeout=1.0, total_timeout=2.0, samples_dir=SAMPLES)


def test_200_returns_body_validators_and_sends_our_user_agent(server: FeedServer, settings: FetchSettings) -> None:
    url = server.route(
        "/feed",
        Reply(headers={"ETag": '"v1"', "Last-Modified": "Wed, 19 Mar 2025 10:00:00 GMT",
                       "Cache-Control": "public, max-age=1800", "Content-Type": "application/rss+xml"}, body=RSS),
    )
    result = fetch_feed(url, etag=None, last_modified=None, settings=settings)
    assert result.kind is FetchKind.OK and result.ok
    assert result.status == 200 and result.body == RSS
    assert result.etag == '"v1"' and result.last_modified == "Wed, 19 Mar 2025 10:00:00 GMT"
    assert result.max_age == 1800 and result.headers["content-type"] == "application/rss+xml"
    assert result.final_url == url and result.permanent_redirect_to is None and result.error is None
    (request,) = server.received("/feed")
    assert request.headers["user-agent"] == USER_AGENT
    assert "if-none-match" not in request.headers and "if-modified-since" not in request.headers


def test_304_conditional_get_sends_both_validators(server: FeedServer, settings: FetchSettings) -> None:
    validators = {"ETag": '"abc"', "Last-Modified": "Thu, 20 Mar 2025 08:00:00 GMT"}
    url = server.route("/feed", Reply(headers=validators, body=RSS, conditional=True))
    first = fetch_feed(url, etag=None, last_modified=None, settings=settings)
    assert first.kind is FetchKind.OK
    second = fetch_feed(url, etag=first.etag, last_modified=first.last_modified, settings=settings)
    assert second.kind is FetchKind.NOT_MODIFIED and second.ok and second.status == 304
    assert second.body == b"" and second.etag == '"abc"'
    sent = server.received("/feed")[1].headers
    assert sent["if-none-match"] == '"abc"'
    assert sent["if-modified-since"] == "Thu, 20 Mar 2025 08:00:00 GMT"


def test_304_without_validators_keeps_the_stored_ones(server: FeedServer, settings: FetchSettings) -> None:
    url = server.route("/feed", Reply(status=304))
    result = fetch_feed(url, etag='"old"', last_modified="Fri, 21 Mar 2025 00:00:00 GMT", settings=settings)
    assert result.kind is FetchKind.NOT_MODIFIED
    assert result.etag == '"old"' and result.last_modified == "Fri, 21 Mar 2025 00:00:00 GMT"


@pytest.mark.parametrize("status", [301, 308])
def test_permanent_redirect_reports_the_new_url(server: FeedServer, settings: FetchSettings, status: int) -> None:
    new = server.route("/new", Reply(body=RSS))
    old = server.route("/old", Reply(status=status, headers={"Location": "/new"}))
    result = fetch_feed(old, etag='"e"', last_modified=None, settings=settings)
    assert result.kind is FetchKind.OK and result.body == RSS
    assert result.permanent_redirect_to == new and result.final_url == new
    # validators follow the redirect
    assert server.received("/new")[0].headers["if-none-match"] == '"e"'


def test_temporary_redirect_is_followed_but_not_permanent(server: FeedServer, settings: FetchSettings) -> None:
    new = server.route("/new", Reply(body=RSS))
    old = server.route("/old", Reply(status=302, headers={"Location": new}))
    result = fetch_feed(old, etag=None, last_modified=None, settings=settings)
    assert result.kind is FetchKind.OK and result.final_url == new
    assert result.permanent_redirect_to is None


def test_permanent_after_temporary_does_not_move_the_feed(server: FeedServer, settings: FetchSettings) -> None:
    server.route("/c", Reply(body=RSS))
    server.route("/b", Reply(status=301, headers={"Location": "/c"}))
    start = server.route("/a", Reply(status=302, headers={"Location": "/b"}))
    assert fetch_feed(start, settings=settings).permanent_redirect_to is None
    chained = server.route("/p", Reply(status=308, headers={"Location": "/q"}))
    server.route("/q", Reply(status=302, headers={"Location": "/c"}))
    assert fetch_feed(chained, settings=settings).permanent_redirect_to == server.url("/q")


def test_redirect_loop_stops_after_the_limit(server: FeedServer, settings: FetchSettings) -> None:
    url = server.route("/loop", Reply(status=302, headers={"Location": "/loop"}))
    result = fetch_feed(url, settings=settings)
    assert result.kind is FetchKind.HTTP_ERROR and "redirects" in (result.error or "")
    assert len(server.received("/loop")) == settings.max_redirects + 1


def test_permanent_redirect_to_a_failing_url_is_not_reported(server: FeedServer, settings: FetchSettings) -> None:
    url = server.route("/old", Reply(status=301, headers={"Location": "/missing"}))
    result = fetch_feed(url, settings=settings)
    assert result.kind is FetchKind.HTTP_ERROR and result.status == 404
    assert result.permanent_redirect_to is None


def test_410_is_gone(server: FeedServer, settings: FetchSettings) -> None:
    result = fetch_feed(server.route("/gone", Reply(status=410)), settings=settings)
    assert result.kind is FetchKind.GONE and result.status == 410 and not result.ok


def test_429_with_retry_after_seconds(server: FeedServer, settings: FetchSettings) -> None:
    url = server.route("/busy", Reply(status=429, headers={"Retry-After": "120"}))
    result = fetch_feed(url, settings=settings)
    assert result.kind is FetchKind.RATE_LIMITED and result.retry_after == 120.0


def test_429_with_retry_after_http_date(server: FeedServer, settings: FetchSettings) -> None:
    url = server.route("/busy", Reply(status=429, headers={"Retry-After": "Sat, 22 Mar 2025 12:30:00 GMT"}))
    now = datetime(2025, 3, 22, 12, 0, tzinfo=UTC)
    result = fetch_feed(url, settings=settings, now=now)
    assert result.kind is FetchKind.RATE_LIMITED and result.retry_after == 1800.0


def test_503_keeps_retry_after(server: FeedServer, settings: FetchSettings) -> None:
    url = server.route("/down", Reply(status=503, headers={"Retry-After": "600"}))
    result = fetch_feed(url, settings=settings)
    assert result.kind is FetchKind.HTTP_ERROR and result.status == 503 and result.retry_after == 600.0


def test_500_is_http_error(server: FeedServer, settings: FetchSettings) -> None:
    result = fetch_feed(server.route("/boom", Reply(status=500, body=b"oops")), settings=settings)
    assert result.kind is FetchKind.HTTP_ERROR and result.status == 500 and result.body == b""
    assert result.error == "HTTP 500"


def test_server_stalling_before_headers_times_out_within_the_total(server: FeedServer) -> None:
    settings = FetchSettings(allow_private=True, connect_timeout=0.5, total_timeout=0.8)
    url = server.route("/stall", Reply(body=RSS, stall_before_headers=30))
    started = time.monotonic()
    result = fetch_feed(url, settings=settings)
    assert result.kind is FetchKind.TIMEOUT
    assert time.monotonic() - started < 0.8 + 1.0  # bound, with slack for a loaded machine


def _drip() -> Iterator[bytes]:
    yield b"<rss>"
    for _ in itertools.count():
        yield b" "


def test_server_dripping_the_body_cannot_pass_the_total_timeout(server: FeedServer) -> None:
    # each byte arrives well within the per-read timeout; only the overall deadline stops it
    settings = FetchSettings(allow_private=True, connect_timeout=0.5, total_timeout=0.8)
    url = server.route("/drip", Reply(body=_drip(), chunk_delay=0.05))
    started = time.monotonic()
    result = fetch_feed(url, settings=settings)
    assert result.kind is FetchKind.TIMEOUT
    assert time.monotonic() - started < 0.8 + 1.0


def test_declared_oversized_body_is_refused(server: FeedServer) -> None:
    settings = FetchSettings(allow_private=True, max_bytes=1000)
    result = fetch_feed(server.route("/big", Reply(body=b"x" * 1001)), settings=settings)
    assert result.kind is FetchKind.TOO_LARGE and result.body == b""


def _endless() -> Iterator[bytes]:
    while True:
        yield b"y" * 65536


def test_endless_streamed_body_stops_at_the_cap(server: FeedServer) -> None:
    settings = FetchSettings(allow_private=True, max_bytes=1_000_000, total_timeout=10)
    result = fetch_feed(server.route("/endless", Reply(body=_endless())), settings=settings)
    assert result.kind is FetchKind.TOO_LARGE and "1000000" in (result.error or "")


def test_gzip_body_is_decoded(server: FeedServer, settings: FetchSettings) -> None:
    url = server.route("/gz", Reply(headers={"Content-Encoding": "gzip"}, body=gzip.compress(RSS)))
    result = fetch_feed(url, settings=settings)
    assert result.kind is FetchKind.OK and result.body == RSS
    assert "gzip" in server.received("/gz")[0].headers["accept-encoding"]


def test_deflate_body_is_decoded(server: FeedServer, settings: FetchSettings) -> None:
    url = server.route("/df", Reply(headers={"Content-Encoding": "deflate"}, body=zlib.compress(RSS)))
    assert fetch_feed(url, settings=settings).body == RSS


def test_gzip_bomb_is_capped_after_decompression(server: FeedServer) -> None:
    bomb = gzip.compress(b"\0" * 20_000_000)
    assert len(bomb) < 100_000
    settings = FetchSettings(allow_private=True, max_bytes=1_000_000)
    url = server.route("/bomb", Reply(headers={"Content-Encoding": "gzip"}, body=bomb))
    result = fetch_feed(url, settings=settings)
    assert result.kind is FetchKind.TOO_LARGE


def test_closed_port_is_a_network_error(settings: FetchSettings) -> None:
    closed = FeedServer()
    url = closed.url("/feed")
    closed.stop()
    result = fetch_feed(url, settings=settings)
    assert result.kind is FetchKind.NETWORK_ERROR and result.status is None and result.error


def test_unresolvable_host_is_a_network_error(settings: FetchSettings) -> None:
    result = fetch_feed("https://feeds.nonexistent.invalid/rss", settings=settings)
    assert result.kind is FetchKind.NETWORK_ERROR


def test_resolver_seam_connects_to_the_checked_address(server: FeedServer) -> None:
    settings = FetchSettings(allow_addresses=frozenset({LOOPBACK}), resolver=lambda host, port: [LOOPBACK])
    url = server.route("/feed", Reply(body=RSS)).replace("127.0.0.1", "feeds.example.test")
    result = fetch_feed(url, settings=settings)
    assert result.kind is FetchKind.OK and result.body == RSS
    assert server.received("/feed")[0].headers["host"] == f"feeds.example.test:{server.port}"


# --- SSRF through the fetcher -------------------------------------------------------------------------------


def test_loopback_refused_without_allow_private_and_nothing_is_sent(server: FeedServer) -> None:
    url = server.route("/feed", Reply(body=RSS))
    result = fetch_feed(url, settings=FetchSettings(allow_private=False))
    assert result.kind is FetchKind.REFUSED and "loopback" in (result.error or "")
    named = fetch_feed(url.replace("127.0.0.1", "localhost"), settings=FetchSettings(allow_private=False))
    assert named.kind is FetchKind.REFUSED
    assert server.received("/feed") == []


def test_name_resolving_to_loopback_is_refused_at_connect_time(server: FeedServer) -> None:
    # the host name passes the static check; the transport checks the address it is about to connect to
    settings = FetchSettings(allow_private=False, resolver=lambda host, port: [LOOPBACK])
    url = server.route("/feed", Reply(body=RSS)).replace("127.0.0.1", "rebind.example.test")
    result = fetch_feed(url, settings=settings)
    assert result.kind is FetchKind.REFUSED and "127.0.0.1" in (result.error or "")
    assert server.received("/feed") == []


@pytest.mark.parametrize(
    "location",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://metadata.google.internal/computeMetadata/v1/",
        "http://[fd00:ec2::254]/",
        "http://0.0.0.0/",
        "file:///etc/passwd",
        "ftp://example.org/feed.xml",
        "http://user:secret@example.org/feed",
    ],
)
def test_redirect_hops_are_checked_even_with_allow_private(
    server: FeedServer, settings: FetchSettings, location: str
) -> None:
    url = server.route("/r", Reply(status=302, headers={"Location": location}))
    result = fetch_feed(url, settings=settings)
    assert result.kind is FetchKind.REFUSED and result.final_url != url and result.error
    assert result.permanent_redirect_to is None


def test_redirect_from_an_allowed_host_to_a_private_one_is_refused(server: FeedServer) -> None:
    with FeedServer(host="127.0.0.2") as private:
        secret = private.route("/secret", Reply(body=b"internal"))
        url = server.route("/r", Reply(status=301, headers={"Location": secret}))
        # only the first server's exact address is treated as public
        settings = FetchSettings(allow_private=False, allow_addresses=frozenset({LOOPBACK}))
        result = fetch_feed(url, settings=settings)
        assert result.kind is FetchKind.REFUSED and "127.0.0.2" in (result.error or "")
        assert len(server.received("/r")) == 1
        assert private.received("/secret") == []


# --- local sample files ---------------------------------------------------------------------------------------


def _a_sample() -> Path:
    return sorted(SAMPLES.glob("*.xml"))[0]


def test_file_url_refused_unless_local_is_allowed(settings: FetchSettings) -> None:
    result = fetch_feed(_a_sample().as_uri(), settings=settings)
    assert result.kind is FetchKind.REFUSED and result.body == b""


def test_sample_file_is_read_and_then_not_modified(settings: FetchSettings) -> None:
    sample = _a_sample()
    first = fetch_feed(sample.as_uri(), settings=settings, allow_local=True)
    assert first.kind is FetchKind.OK and first.body == sample.read_bytes() and first.etag
    second = fetch_feed(sample.as_uri(), etag=first.etag, settings=settings, allow_local=True)
    assert second.kind is FetchKind.NOT_MODIFIED and second.body == b""


@pytest.mark.parametrize("target", ["/etc/passwd", str(SAMPLES / ".." / "feeds.toml"), str(ROOT / "pyproject.toml")])
def test_local_files_outside_the_samples_dir_are_refused(settings: FetchSettings, target: str) -> None:
    result = fetch_feed(Path(target).absolute().as_uri(), settings=settings, allow_local=True)
    assert result.kind is FetchKind.REFUSED and result.body == b""


def test_symlink_out_of_the_samples_dir_is_refused(tmp_path: Path) -> None:
    samples = tmp_path / "samples"
    samples.mkdir()
    (tmp_path / "secret.xml").write_bytes(RSS)
    (samples / "link.xml").symlink_to(tmp_path / "secret.xml")
    settings = FetchSettings(samples_dir=samples)
    result = fetch_feed((samples / "link.xml").as_uri(), settings=settings, allow_local=True)
    assert result.kind is FetchKind.REFUSED


# --- header parsing -------------------------------------------------------------------------------------------


def test_retry_after_and_max_age_parsing() -> None:
    now = datetime(2025, 3, 22, 12, 0, tzinfo=UTC)
    assert parse_retry_after("0") == 0.0
    assert parse_retry_after("Sat, 22 Mar 2025 11:00:00 GMT", now=now) == 0.0  # in the past
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None
    assert parse_max_age("max-age=300, must-revalidate") == 300
    assert parse_max_age("s-maxage=10") is None
    assert parse_max_age("no-store, max-age=300") is None


# --- TLS through the pinned connection ------------------------------------------------------------------------


@pytest.fixture
def pki(tmp_path: Path) -> LocalPKI:
    return make_pki(tmp_path, "feeds.example.test")


def test_https_is_verified_against_the_host_name_while_connecting_to_the_checked_address(pki: LocalPKI) -> None:
    with FeedServer(ssl_context=pki.server_context()) as tls:
        url = tls.route("/feed", Reply(body=RSS)).replace("127.0.0.1", "feeds.example.test")
        settings = FetchSettings(
            allow_addresses=frozenset({LOOPBACK}), resolver=lambda host, port: [LOOPBACK],
            tls_verify=pki.client_context(),
        )
        result = fetch_feed(url, settings=settings)
        assert result.kind is FetchKind.OK and result.body == RSS
        # the same server under a name its certificate does not carry: verification fails
        wrong = fetch_feed(url.replace("feeds.example.test", "other.example.test"), settings=settings)
        assert wrong.kind is FetchKind.NETWORK_ERROR and "CERTIFICATE" in (wrong.error or "").upper()


def test_https_with_an_untrusted_certificate_fails(pki: LocalPKI) -> None:
    with FeedServer(ssl_context=pki.server_context()) as tls:
        url = tls.route("/feed", Reply(body=RSS)).replace("127.0.0.1", "feeds.example.test")
        settings = FetchSettings(allow_addresses=frozenset({LOOPBACK}), resolver=lambda host, port: [LOOPBACK])
        result = fetch_feed(url, settings=settings)
        assert result.kind is FetchKind.NETWORK_ERROR and result.body == b""
        assert tls.received("/feed") == []


def test_compressed_body_exactly_at_the_cap_is_accepted_and_one_more_byte_is_not(server: FeedServer) -> None:
    settings = FetchSettings(allow_private=True, max_bytes=200_000)
    exact = server.route("/exact", Reply(headers={"Content-Encoding": "gzip"}, body=gzip.compress(b"a" * 200_000)))
    over = server.route("/over", Reply(headers={"Content-Encoding": "gzip"}, body=gzip.compress(b"a" * 200_001)))
    result = fetch_feed(exact, settings=settings)
    assert result.kind is FetchKind.OK and len(result.body) == 200_000
    assert fetch_feed(over, settings=settings).kind is FetchKind.TOO_LARGE


def test_raw_deflate_without_zlib_header_is_decoded(server: FeedServer, settings: FetchSettings) -> None:
    compressor = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    raw = compressor.compress(RSS) + compressor.flush()
    url = server.route("/raw", Reply(headers={"Content-Encoding": "deflate"}, body=raw))
    assert fetch_feed(url, settings=settings).body == RSS


def test_corrupt_gzip_is_a_network_error(server: FeedServer, settings: FetchSettings) -> None:
    url = server.route("/bad", Reply(headers={"Content-Encoding": "gzip"}, body=b"\x1f\x8bnot really gzip"))
    result = fetch_feed(url, settings=settings)
    assert result.kind is FetchKind.NETWORK_ERROR and "gzip" in (result.error or "")


def test_encoding_we_did_not_ask_for_is_an_error(server: FeedServer, settings: FetchSettings) -> None:
    url = server.route("/br", Reply(headers={"Content-Encoding": "br"}, body=b"\x8b\x02\x80hello\x03"))
    result = fetch_feed(url, settings=settings)
    assert result.kind is FetchKind.HTTP_ERROR and "br" in (result.error or "")


def test_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TRACKER_ALLOW_PRIVATE_FEEDS", "1")
    monkeypatch.setenv("TRACKER_FEEDS_FILE", str(tmp_path / "conf" / "feeds.toml"))
    settings = FetchSettings.from_settings(Settings(), total_timeout=5.0)
    assert settings.allow_private and settings.total_timeout == 5.0
    assert settings.samples_dir == (tmp_path / "conf" / "samples").resolve()
    monkeypatch.delenv("TRACKER_ALLOW_PRIVATE_FEEDS")
    assert not FetchSettings.from_settings(Settings()).allow_private
