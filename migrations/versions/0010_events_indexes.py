"""Events table: only the indexes queries use.

Every append paid for five B-trees on SQLite (the table's rowid, an index on `position` because BIGINT
PRIMARY KEY is not SQLite's rowid alias, the unique index on event_id, the unique (stream_id, stream_version)
and recorded_at) and four on PostgreSQL. No query looks events up by event_id or by recorded_at alone: reads
go by position (the log, verify, replay, proofs) or by stream (stream_id, stream_version; as-of reads filter
recorded_at within one stream). So:

- ix_events_recorded_at and the unique index on event_id are dropped (event ids are time-ordered UUIDs with
  73 random bits, generated per append; nothing relies on the database to refuse a duplicate);
- on SQLite the table is rebuilt with `position INTEGER PRIMARY KEY`, the rowid itself, so the log is
  stored in position order with no second index on it. Rows are copied as they are (same values, same
  order: the hash chain is unchanged), and the UPDATE/DELETE guards are created again.

Kept: the primary key on position and the unique (stream_id, stream_version), which reads use and which
refuse a writer that bypassed the append lock.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

_COLUMNS = ("position, event_id, stream_id, stream_version, event_type, schema_version, occurred_at, recorded_at,"
            " actor, causation_id, correlation_id, payload, prev_hash, hash")

SQLITE_TABLE = """CREATE TABLE events_rebuilt (
    position INTEGER PRIMARY KEY,
    event_id VARCHAR(36) NOT NULL,
    stream_id VARCHAR(200) NOT NULL,
    stream_version INTEGER NOT NULL,
    event_type VARCHAR(100) NOT NULL,
    schema_version INTEGER NOT NULL,
    occurred_at VARCHAR(32) NOT NULL,
    recorded_at VARCHAR(32) NOT NULL,
    actor VARCHAR(200) NOT NULL,
    causation_id VARCHAR(100),
    correlation_id VARCHAR(100),
    payload TEXT NOT NULL,
    prev_hash VARCHAR(64) NOT NULL,
    hash VARCHAR(64) NOT NULL,
    CONSTRAINT uq_events_stream_version UNIQUE (stream_id, stream_version)
)"""

SQLITE_GUARDS = [
    """CREATE TRIGGER events_refuse_update BEFORE UPDATE ON events
       BEGIN SELECT RAISE(ABORT, 'events are append-only: UPDATE refused'); END""",
    """CREATE TRIGGER events_refuse_delete BEFORE DELETE ON events
       BEGIN SELECT RAISE(ABORT, 'events are append-only: DELETE refused'); END""",
]


def _event_id_constraint() -> str | None:
    for constraint in sa.inspect(op.get_bind()).get_unique_constraints("events"):
        if constraint["column_names"] == ["event_id"]:
            return constraint["name"]
    return None


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute(SQLITE_TABLE)
        op.execute(f"INSERT INTO events_rebuilt ({_COLUMNS}) SELECT {_COLUMNS} FROM events ORDER BY position")
        op.execute("DROP TABLE events")  # its triggers and indexes go with it
        op.execute("ALTER TABLE events_rebuilt RENAME TO events")
        for statement in SQLITE_GUARDS:
            op.execute(statement)
        return
    op.drop_index("ix_events_recorded_at", table_name="events")
    name = _event_id_constraint()
    if name:
        op.drop_constraint(name, "events", type_="unique")


def downgrade() -> None:
    # The SQLite table keeps position as its rowid (same values, same queries); only the indexes come back.
    op.create_index("ix_events_recorded_at", "events", ["recorded_at"])
    if op.get_bind().dialect.name == "sqlite":
        op.execute("CREATE UNIQUE INDEX uq_events_event_id ON events (event_id)")
    else:
        op.create_unique_constraint("events_event_id_key", "events", ["event_id"])
