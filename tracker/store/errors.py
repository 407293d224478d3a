"""Errors the store raises; nothing above the store needs to know SQL."""


class StoreError(Exception):
    """The store could not do what was asked."""


class ConcurrencyError(StoreError):
    """The stream moved on since the caller read it (stale expected version)."""

    def __init__(self, stream_id: str, expected: int, actual: int) -> None:
        super().__init__(f"stream {stream_id} is at version {actual}, expected {expected}")
        self.stream_id = stream_id
        self.expected = expected
        self.actual = actual
