"""An httpx transport that re-checks every address it connects to and never outlives a deadline.

- DNS re-binding: `check_url` resolves a host and checks the addresses, but a later connect resolves again and
  could get a different (internal) answer. Here the network backend itself resolves, checks every address with
  `netguard.check_address`, and connects to one of those checked addresses. TLS still uses the host name (SNI
  and certificate checks are done by httpcore against the origin host, not the IP).
- Total timeout: httpx timeouts are per operation (a server dripping one byte per read never trips them).
  Every connect, read and write here is clipped to the time left before one overall deadline.
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Collection, Iterable
from typing import Any

import httpcore
import httpx

from tracker.ingest import netguard
from tracker.ingest.netguard import IPAddress, Resolver


class Deadline:
    """A point in monotonic time; `clip` turns a per-operation timeout into one that respects it."""

    def __init__(self, seconds: float) -> None:
        self.expires = time.monotonic() + seconds

    def remaining(self) -> float:
        return self.expires - time.monotonic()

    def clip(self, timeout: float | None, exc: type[Exception] = httpcore.ReadTimeout) -> float:
        left = self.remaining()
        if left <= 0:
            raise exc("total timeout exceeded")
        return left if timeout is None else min(timeout, left)


class DeadlineStream(httpcore.NetworkStream):
    """Wraps a network stream so no single read or write can run past the deadline."""

    def __init__(self, inner: httpcore.NetworkStream, deadline: Deadline) -> None:
        self._inner = inner
        self._deadline = deadline

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, self._deadline.clip(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, self._deadline.clip(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.NetworkStream:
        tls = self._inner.start_tls(ssl_context, server_hostname, self._deadline.clip(timeout, httpcore.ConnectTimeout))
        return DeadlineStream(tls, self._deadline)

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class GuardedBackend(httpcore.NetworkBackend):
    """Resolves, checks and connects in one step, so the address checked is the address used."""

    def __init__(
        self,
        *,
        deadline: Deadline,
        allow_private: bool,
        allow_addresses: Collection[IPAddress] = frozenset(),
        resolver: Resolver | None = None,
    ) -> None:
        self._deadline = deadline
        self._allow_private = allow_private
        self._allow_addresses = allow_addresses
        self._resolver = resolver
        self._plain = httpcore.SyncBackend()

    def resolve(self, host: str, port: int, timeout: float | None) -> list[IPAddress]:
        if host.rstrip(".").lower() in netguard.METADATA_NAMES:
            raise netguard.UnsafeURL(f"refused host {host!r}: cloud metadata service")
        try:
            if self._resolver is not None:
                addresses = list(self._resolver(host, port))
            else:
                addresses = netguard.system_resolver(host, port, timeout)
        except netguard.ResolveError as error:
            raise httpcore.ConnectError(str(error)) from None
        if not addresses:
            raise httpcore.ConnectError(f"{host} resolved to no addresses")
        for ip in addresses:
            netguard.check_address(ip, allow_private=self._allow_private, allow_addresses=self._allow_addresses)
        return addresses

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        addresses = self.resolve(host, port, self._deadline.clip(timeout, httpcore.ConnectTimeout))
        last_error: Exception | None = None
        for ip in addresses:  # connect only to addresses that were just checked
            try:
                stream = self._plain.connect_tcp(
                    str(ip), port, self._deadline.clip(timeout, httpcore.ConnectTimeout), local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as error:
                last_error = error
                continue
            return DeadlineStream(stream, self._deadline)
        assert last_error is not None
        raise last_error

    def connect_unix_socket(self, path: str, timeout: float | None = None, socket_options: Any = None) -> Any:
        raise netguard.UnsafeURL("unix sockets are never used for feeds")

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


def guarded_transport(backend: GuardedBackend, *, verify: bool | ssl.SSLContext = True) -> httpx.HTTPTransport:
    """An httpx transport whose connections all go through `backend`; environment proxies are ignored.

    httpx has no public hook for the network backend, so the connection pool is swapped for one built with
    ours (httpx's HTTPTransport only uses `_pool` to handle requests). tests/ingest checks that it takes effect.
    """
    transport = httpx.HTTPTransport(trust_env=False)
    ssl_context = verify if isinstance(verify, ssl.SSLContext) else httpx.create_ssl_context(verify=verify)
    transport._pool = httpcore.ConnectionPool(  # noqa: SLF001 - see docstring
        ssl_context=ssl_context,
        max_connections=4,
        max_keepalive_connections=0,
        http1=True,
        http2=False,
        network_backend=backend,
    )
    return transport
