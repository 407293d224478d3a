"""Event store (append-only, refused UPDATE/DELETE) and the first read models.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

SQLITE_GUARDS = [
    """CREATE TRIGGER events_refuse_update BEFORE UPDATE ON events
       BEGIN SELECT RAISE(ABORT, 'events are append-only: UPDATE refused'); END""",
    """CREATE TRIGGER events_refuse_delete BEFORE DELETE ON events
       BEGIN SELECT RAISE(ABORT, 'events are append-only: DELETE refused'); END""",
]

POSTGRES_GUARDS = [
    """CREATE FUNCTION events_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN RAISE EXCEPTION 'events are append-only: % refused', TG_OP; END $$""",
    """CREATE TRIGGER events_refuse_update_delete BEFORE UPDATE OR DELETE ON events
       FOR EACH ROW EXECUTE FUNCTION events_refuse_change()""",
    """CREATE TRIGGER events_refuse_truncate BEFORE TRUNCATE ON events
       FOR EACH STATEMENT EXECUTE FUNCTION events_refuse_change()""",
]


def upgrade() -> None:
    op.create_table(
        "events",
        sa.Column("position", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("event_id", sa.String(36), nullable=False, unique=True),
        sa.Column("stream_id", sa.String(200), nullable=False),
        sa.Column("stream_version", sa.Integer, nullable=False),
        sa.Column("event_type", sa.String(100), nullable=False),
        sa.Column("schema_version", sa.Integer, nullable=False),
        sa.Column("occurred_at", sa.String(32), nullable=False),
        sa.Column("recorded_at", sa.String(32), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("causation_id", sa.String(100)),
        sa.Column("correlation_id", sa.String(100)),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.UniqueConstraint("stream_id", "stream_version", name="uq_events_stream_version"),
    )
    op.create_index("ix_events_recorded_at", "events", ["recorded_at"])
    guards = SQLITE_GUARDS if op.get_bind().dialect.name == "sqlite" else POSTGRES_GUARDS
    for statement in guards:
        op.execute(statement)

    op.create_table(
        "sources",
        sa.Column("source_id", sa.String(200), primary_key=True),
        sa.Column("outlet", sa.String(200), nullable=False),
        sa.Column("author", sa.String(200), nullable=False),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("published_at", sa.String(32), nullable=False),
        sa.Column("url", sa.Text),
        sa.Column("text_sha256", sa.String(64), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("updated_at", sa.String(32), nullable=False),
    )
    op.create_table(
        "propositions",
        sa.Column("proposition_id", sa.String(200), primary_key=True),
        sa.Column("source_id", sa.String(200), index=True),
        sa.Column("kind", sa.String(20), nullable=False, index=True),
        sa.Column("statement", sa.Text, nullable=False),
        sa.Column("status", sa.String(20), nullable=False, index=True),
        sa.Column("actors", sa.Text, nullable=False),
        sa.Column("topics", sa.Text, nullable=False),
        sa.Column("probability", sa.Float),
        sa.Column("resolve_by", sa.String(10), index=True),
        sa.Column("outcome", sa.String(20)),
        sa.Column("brier", sa.Float),
        sa.Column("supports", sa.Integer, nullable=False),
        sa.Column("contradicts", sa.Integer, nullable=False),
        sa.Column("context", sa.Integer, nullable=False),
        sa.Column("awaiting_review", sa.Integer, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("updated_at", sa.String(32), nullable=False),
        sa.Column("state", sa.Text, nullable=False),
    )
    op.create_table(
        "matches",
        sa.Column("match_id", sa.String(200), primary_key=True),
        sa.Column("proposition_id", sa.String(200), nullable=False, index=True),
        sa.Column("evidence_id", sa.String(200), nullable=False, index=True),
        sa.Column("state", sa.String(20), nullable=False, index=True),
        sa.Column("score", sa.Float, nullable=False),
        sa.Column("suggested_stance", sa.String(20)),
        sa.Column("stance", sa.String(20)),
        sa.Column("automatic", sa.Boolean, nullable=False),
        sa.Column("explanation", sa.Text, nullable=False),
    )
    op.create_table(
        "history",
        sa.Column("position", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("stream_id", sa.String(200), nullable=False),
        sa.Column("stream_version", sa.Integer, nullable=False),
        sa.Column("event_type", sa.String(100), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("occurred_at", sa.String(32), nullable=False),
        sa.Column("recorded_at", sa.String(32), nullable=False),
    )
    op.create_index("ix_history_stream", "history", ["stream_id", "stream_version"])


def downgrade() -> None:
    for table in ("history", "matches", "propositions", "sources", "events"):
        op.drop_table(table)
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS events_refuse_change()")
