"""History rows keyed by the rowid on SQLite.

`history.position` was a BIGINT primary key, which SQLite does not take as its rowid alias: every history row
(one per appended event, in the append's transaction) went into the table's rowid B-tree and into a separate
index on position, besides ix_history_stream. As migration 0010 did for events, the SQLite table is rebuilt with
`position INTEGER PRIMARY KEY` (rows copied as they are, in position order; ix_history_stream created again), so
an append writes two B-trees for its history row instead of three. PostgreSQL is unchanged (its primary key is
already the one index on position).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02
"""

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

_COLUMNS = "position, stream_id, stream_version, event_type, actor, occurred_at, recorded_at"

SQLITE_TABLE = """CREATE TABLE history_rebuilt (
    position INTEGER PRIMARY KEY,
    stream_id VARCHAR(200) NOT NULL,
    stream_version INTEGER NOT NULL,
    event_type VARCHAR(100) NOT NULL,
    actor VARCHAR(200) NOT NULL,
    occurred_at VARCHAR(32) NOT NULL,
    recorded_at VARCHAR(32) NOT NULL
)"""


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    op.execute(SQLITE_TABLE)
    op.execute(f"INSERT INTO history_rebuilt ({_COLUMNS}) SELECT {_COLUMNS} FROM history ORDER BY position")
    op.execute("DROP TABLE history")  # ix_history_stream goes with it
    op.execute("ALTER TABLE history_rebuilt RENAME TO history")
    op.execute("CREATE INDEX ix_history_stream ON history (stream_id, stream_version)")


def downgrade() -> None:
    pass  # the same columns, values and queries: position is still the primary key
