"""Fetch one feed over HTTP(S) (or a local sample file) and classify the outcome. No event store here.

`fetch_feed` never raises for network or server trouble: every outcome is a `FeedResponse` whose `kind` says
what happened, so the caller (the feed aggregate / refresh unit of work) can decide about back-off, disabling
and URL updates. Only programming errors escape.
"""

from __future__ import annotations

import email.utils
import enum
import hashlib
import mimetypes
import re
import ssl
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx

from tracker.config import Settings
from tracker.ingest import netguard
from tracker.ingest.inflate import BadCompressedData, Inflater, UnsupportedEncoding
from tracker.ingest.netguard import IPAddress, Resolver
from tracker.ingest.transport import Deadline, GuardedBackend, guarded_transport

USER_AGENT = "PolicyTracker/0.1 (+https://example.invalid)"
DEFAULT_MAX_BYTES = 15 * 1024 * 1024
REDIRECT_CODES = frozenset({301, 302, 303, 307, 308})
PERMANENT_REDIRECT_CODES = frozenset({301, 308})
ACCEPT = (
    "application/rss+xml, application/atom+xml, application/rdf+xml, application/xml;q=0.9, text/xml;q=0.9, */*;q=0.1"
)


class FetchKind(enum.StrEnum):
    OK = "ok"
    NOT_MODIFIED = "not_modified"
    GONE = "gone"
    RATE_LIMITED = "rate_limited"
    HTTP_ERROR = "http_error"
    TIMEOUT = "timeout"
    TOO_LARGE = "too_large"
    NETWORK_ERROR = "network_error"
    REFUSED = "refused"


@dataclass(frozen=True)
class FetchSettings:
    """Limits and policy for one fetch. Build from the app settings with `FetchSettings.from_settings`."""

    connect_timeout: float = 10.0
    total_timeout: float = 30.0
    max_bytes: int = DEFAULT_MAX_BYTES
    max_redirects: int = 5
    user_agent: str = USER_AGENT
    allow_private: bool = False
    # Exact addresses accepted even though private (e.g. an internal mirror); metadata addresses never are.
    allow_addresses: frozenset[IPAddress] = frozenset()
    samples_dir: Path = field(default_factory=lambda: Path("feeds/samples"))
    # Seam for tests: resolve host names without DNS. None uses getaddrinfo.
    resolver: Resolver | None = None
    # TLS verification: True (system CAs) or a context (e.g. trusting a private CA). Never disable it for feeds.
    tls_verify: ssl.SSLContext | bool = True

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: object) -> FetchSettings:
        samples = Path(settings.feeds_file).resolve().parent / "samples"
        values: dict[str, object] = {"allow_private": settings.allow_private_feeds, "samples_dir": samples}
        values.update(overrides)
        return cls(**values)  # type: ignore[arg-type]


@dataclass(frozen=True)
class FeedResponse:
    """The outcome of one fetch.

    - `kind`: see FetchKind. `ok` and `not_modified` are successes; `gone` (410) should disable the feed;
      `rate_limited` (429) and any result with `retry_after` should wait at least that long.
    - `status`: the final HTTP status (None when no response arrived).
    - `body`: decompressed bytes, only for `ok` (empty otherwise).
    - `headers`: final response headers, names lowercased (repeated headers joined with ", ").
    - `etag`, `last_modified`: validators to store for the next conditional GET (from the final response;
      on 304 the stored ones are echoed back when the server omits them).
    - `final_url`: the URL that answered after redirects.
    - `permanent_redirect_to`: set only on success, when the chain started with permanent redirects (301/308):
      the target of the last of those, i.e. the URL to store for the feed from now on. A temporary redirect
      earlier in the chain means the stored URL stays.
    - `retry_after`: seconds from Retry-After (delta-seconds or HTTP-date), on any status.
    - `max_age`: seconds from Cache-Control max-age, for lengthening the polling interval.
    - `error`: a human-readable message for every non-success kind.
    """

    kind: FetchKind
    url: str
    status: int | None = None
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    etag: str | None = None
    last_modified: str | None = None
    final_url: str | None = None
    permanent_redirect_to: str | None = None
    retry_after: float | None = None
    max_age: int | None = None
    error: str | None = None
    elapsed: float = 0.0

    @property
    def ok(self) -> bool:
        return self.kind in (FetchKind.OK, FetchKind.NOT_MODIFIED)


def fetch_feed(
    url: str,
    *,
    etag: str | None = None,
    last_modified: str | None = None,
    settings: FetchSettings,
    allow_local: bool = False,
    now: datetime | None = None,
) -> FeedResponse:
    """Fetch `url` with a conditional GET, following up to `settings.max_redirects` redirects by hand.

    Every hop is checked by the SSRF guard before it is requested, and again at connect time by the transport.
    `file:` URLs are served only with `allow_local=True` (feeds.toml entries with `path =`), and only from
    inside `settings.samples_dir`; a URL given through the API must never set it.
    `now` (UTC) is used to turn an HTTP-date Retry-After into seconds.
    """
    started = time.monotonic()
    if url.lower().startswith("file:"):
        if not allow_local:
            return FeedResponse(FetchKind.REFUSED, url, error="local files are only read for feeds.toml sample entries")
        return _fetch_local(url, etag=etag, settings=settings, started=started)

    deadline = Deadline(settings.total_timeout)
    backend = GuardedBackend(
        deadline=deadline,
        allow_private=settings.allow_private,
        allow_addresses=settings.allow_addresses,
        resolver=settings.resolver,
    )
    timeout = httpx.Timeout(settings.total_timeout, connect=settings.connect_timeout)
    headers = {"User-Agent": settings.user_agent, "Accept": ACCEPT, "Accept-Encoding": "gzip, deflate"}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified

    def done(kind: FetchKind, **kw: object) -> FeedResponse:
        return FeedResponse(kind, url, elapsed=time.monotonic() - started, **kw)  # type: ignore[arg-type]

    current = url
    permanent_to: str | None = None
    still_permanent = True
    transport = guarded_transport(backend, verify=settings.tls_verify)
    with httpx.Client(transport=transport, timeout=timeout, follow_redirects=False, trust_env=False) as client:
        for _hop in range(settings.max_redirects + 1):
            try:
                netguard.check_url_static(
                    current, allow_private=settings.allow_private, allow_addresses=settings.allow_addresses
                )
                outcome = _request(client, current, headers, settings.max_bytes, deadline)
            except netguard.UnsafeURL as error:
                return done(FetchKind.REFUSED, final_url=current, error=str(error))
            except httpx.TimeoutException as error:
                return done(FetchKind.TIMEOUT, final_url=current, error=f"timed out: {error}")
            except (httpx.HTTPError, httpx.InvalidURL, BadCompressedData, OSError) as error:
                return done(FetchKind.NETWORK_ERROR, final_url=current, error=f"{type(error).__name__}: {error}")
            except UnsupportedEncoding as error:
                return done(FetchKind.HTTP_ERROR, final_url=current, error=str(error))
            status, response_headers, body, too_large = outcome
            common = {
                "status": status,
                "headers": response_headers,
                "final_url": current,
                "retry_after": parse_retry_after(response_headers.get("retry-after"), now=now),
                "max_age": parse_max_age(response_headers.get("cache-control")),
            }
            if status in REDIRECT_CODES:
                location = response_headers.get("location")
                if not location:
                    return done(FetchKind.HTTP_ERROR, **common, error=f"HTTP {status} redirect without Location")
                try:
                    target = str(httpx.URL(current).join(location.strip()))
                except httpx.InvalidURL as error:
                    return done(FetchKind.HTTP_ERROR, **common, error=f"HTTP {status} with bad Location: {error}")
                if status in PERMANENT_REDIRECT_CODES and still_permanent:
                    permanent_to = target
                else:
                    still_permanent = False
                current = target
                continue
            if too_large:
                return done(FetchKind.TOO_LARGE, **common, error=f"body exceeds {settings.max_bytes} bytes")
            validators = {
                "etag": response_headers.get("etag"),
                "last_modified": response_headers.get("last-modified"),
                "permanent_redirect_to": permanent_to,
            }
            if status == 304:
                validators["etag"] = validators["etag"] or etag
                validators["last_modified"] = validators["last_modified"] or last_modified
                return done(FetchKind.NOT_MODIFIED, **common, **validators)
            if 200 <= status < 300:
                return done(FetchKind.OK, **common, body=body, **validators)
            if status == 410:
                return done(FetchKind.GONE, **common, error="HTTP 410 Gone: the feed was removed")
            if status == 429:
                return done(FetchKind.RATE_LIMITED, **common, error="HTTP 429 Too Many Requests")
            return done(FetchKind.HTTP_ERROR, **common, error=f"HTTP {status}")
    return done(FetchKind.HTTP_ERROR, final_url=current, error=f"more than {settings.max_redirects} redirects")


def _request(
    client: httpx.Client, url: str, headers: dict[str, str], max_bytes: int, deadline: Deadline
) -> tuple[int, dict[str, str], bytes, bool]:
    """One GET: (status, lowercased headers, decompressed body, too_large). Reads no more than needed:
    no body for redirects, 304 and errors; for 2xx, stops as soon as the decompressed size passes `max_bytes`."""
    with client.stream("GET", url, headers=headers) as response:
        status = response.status_code
        response_headers = {k.lower(): ", ".join(response.headers.get_list(k)) for k in response.headers.keys()}
        if not 200 <= status < 300:
            return status, response_headers, b"", False
        declared = response_headers.get("content-length", "")
        if declared.isdigit() and "content-encoding" not in response_headers and int(declared) > max_bytes:
            return status, response_headers, b"", True
        inflater = Inflater(response_headers.get("content-encoding"))
        chunks: list[bytes] = []
        size = 0
        for raw in response.iter_raw():
            piece = inflater.feed(raw, max_bytes - size + 1)
            while piece:
                size += len(piece)
                if size > max_bytes:
                    return status, response_headers, b"", True
                chunks.append(piece)
                piece = inflater.feed(b"", max_bytes - size + 1)  # drain what the budget held back
            # The transport clips each read to the deadline; this catches a steady drip between reads.
            deadline.clip(None, httpx.ReadTimeout)
        tail = inflater.flush()
        if size + len(tail) > max_bytes:
            return status, response_headers, b"", True
        chunks.append(tail)
        return status, response_headers, b"".join(chunks), False


def _fetch_local(url: str, *, etag: str | None, settings: FetchSettings, started: float) -> FeedResponse:
    """Serve a sample feed from `settings.samples_dir`. The ETag is the content hash, so unchanged is 304."""
    parsed = urllib.parse.urlsplit(url)
    raw = urllib.request.url2pathname(parsed.path) if parsed.netloc in ("", "localhost") else None
    if not raw:
        return FeedResponse(FetchKind.REFUSED, url, error=f"unusable file URL {url!r}")
    root = settings.samples_dir.resolve()
    path = Path(raw).resolve()
    if not path.is_relative_to(root):
        return FeedResponse(FetchKind.REFUSED, url, error=f"local feeds must be inside {root}")
    try:
        with path.open("rb") as handle:
            body = handle.read(settings.max_bytes + 1)
    except OSError as error:
        return FeedResponse(FetchKind.NETWORK_ERROR, url, error=f"cannot read {path}: {error.strerror}")
    elapsed = time.monotonic() - started
    if len(body) > settings.max_bytes:
        return FeedResponse(FetchKind.TOO_LARGE, url, error=f"file exceeds {settings.max_bytes} bytes", elapsed=elapsed)
    tag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    content_type = mimetypes.guess_type(path.name)[0] or "application/xml"
    headers = {"content-type": content_type, "content-location": path.as_uri(), "etag": tag}
    kind, status = (FetchKind.NOT_MODIFIED, 304) if etag == tag else (FetchKind.OK, 200)
    return FeedResponse(
        kind,
        url,
        status=status,
        body=body if kind is FetchKind.OK else b"",
        headers=headers,
        etag=tag,
        final_url=path.as_uri(),
        elapsed=elapsed,
    )


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After value: delta-seconds or an HTTP-date (past dates give 0)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(int(value))
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


_MAX_AGE = re.compile(r"(?:^|[,\s])max-age\s*=\s*\"?(\d+)\"?", re.IGNORECASE)


def parse_max_age(cache_control: str | None) -> int | None:
    """max-age seconds from a Cache-Control value; None if absent or if the response must not be cached."""
    if not cache_control:
        return None
    if re.search(r"\bno-(store|cache)\b", cache_control, re.IGNORECASE):
        return None
    match = _MAX_AGE.search(cache_control)
    return int(match.group(1)) if match else None


