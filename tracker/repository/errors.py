"""Errors of the use cases that are neither a domain refusal nor a missing stream."""

from __future__ import annotations


class Invalid(Exception):
    """A request that is well-formed but cannot be honoured as sent (the API answers 422), with a stable kind."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(detail)
        self.kind = kind
