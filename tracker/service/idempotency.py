"""Idempotency-Key records: the first response to a (user, key), so a retry gets it again. A plain table.

Inside a command, the record is read and written in the command's own transaction (which holds the store's
append lock); for work that commits on its own (a feed fetch) it is checked before and recorded after.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa

from tracker.repository.errors import Invalid
from tracker.repository.tables import api_idempotency
from tracker.repository.unit_of_work import Tracker
from tracker.store.envelope import iso


@dataclass(frozen=True)
class StoredResponse:
    status_code: int
    body: str  # the JSON text sent the first time
    etag: str | None


def recorded(connection: sa.Connection, user_name: str, key: str, request_sha256: str) -> StoredResponse | None:
    """The response stored for this key; Invalid when the key was used with a different request."""
    row = connection.execute(
        sa.select(api_idempotency).where(api_idempotency.c.user_name == user_name, api_idempotency.c.key == key)
    ).first()
    if row is None:
        return None
    if row.request_sha256 != request_sha256:
        raise Invalid("idempotency-key-reused", "this Idempotency-Key was used with a different request")
    return StoredResponse(row.status_code, row.body, row.etag)


def record(connection: sa.Connection, user_name: str, key: str, request_sha256: str,
           response: StoredResponse) -> None:
    connection.execute(api_idempotency.insert().values(
        user_name=user_name, key=key, request_sha256=request_sha256, status_code=response.status_code,
        body=response.body, etag=response.etag, created_at=iso(datetime.now(UTC)),
    ))


def recorded_outside(tracker: Tracker, user_name: str, key: str, request_sha256: str) -> StoredResponse | None:
    """As `recorded`, in a connection of its own."""
    with tracker.store.engine.connect() as connection:
        return recorded(connection, user_name, key, request_sha256)


def record_outside(tracker: Tracker, user_name: str, key: str, request_sha256: str,
                   response: StoredResponse) -> None:
    """As `record`, in a transaction of its own; a concurrent duplicate that recorded first wins."""
    try:
        with tracker.store.engine.begin() as connection:
            record(connection, user_name, key, request_sha256, response)
    except sa.exc.IntegrityError:
        pass
