"""Bounded decompression of HTTP bodies (Content-Encoding gzip / deflate).

httpx's own decoders inflate each network read in one go, so a 64 KiB read of a gzip bomb can become ~64 MiB
in memory before any cap is checked. Here every call is given a budget (`max_length`), so the output held in
memory never exceeds the body cap plus one byte, however compressible the input.
"""

from __future__ import annotations

import zlib


class UnsupportedEncoding(ValueError):
    """A Content-Encoding we did not ask for (we send Accept-Encoding: gzip, deflate)."""


class BadCompressedData(ValueError):
    """The body does not decompress."""


class Inflater:
    def __init__(self, content_encoding: str | None) -> None:
        codings = [c.strip().lower() for c in (content_encoding or "").split(",") if c.strip()]
        codings = [c for c in codings if c != "identity"]
        if len(codings) > 1:
            raise UnsupportedEncoding(f"stacked content encodings {codings} are not supported")
        self._coding = codings[0] if codings else None
        if self._coding in ("gzip", "x-gzip"):
            self._z: zlib._Decompress | None = zlib.decompressobj(zlib.MAX_WBITS | 16)
        elif self._coding == "deflate":
            self._z = zlib.decompressobj()
        elif self._coding is None:
            self._z = None
        else:
            raise UnsupportedEncoding(f"unsupported Content-Encoding {self._coding!r}")
        self._started = False

    def feed(self, data: bytes, budget: int) -> bytes:
        """Decompress `data`, returning at most `budget` bytes. Returning exactly `budget` bytes while input
        remains unconsumed means the body is larger than the budget: the caller should stop (and does, since it
        passes its remaining allowance + 1)."""
        if self._z is None:
            return data
        data = self._z.unconsumed_tail + data  # input held back by an earlier budget comes first
        try:
            out = self._z.decompress(data, budget)
        except zlib.error as error:
            if self._coding == "deflate" and not self._started:
                # Some servers send raw deflate without the zlib header.
                self._z = zlib.decompressobj(-zlib.MAX_WBITS)
                self._started = True
                return self.feed(data, budget)
            raise BadCompressedData(f"bad {self._coding} data: {error}") from None
        self._started = True
        return out

    def flush(self) -> bytes:
        if self._z is None:
            return b""
        try:
            return self._z.flush()
        except zlib.error as error:
            raise BadCompressedData(f"bad {self._coding} data: {error}") from None
