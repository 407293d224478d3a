"""Read-model tables. They can be dropped and rebuilt from the events at any time."""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

sources = sa.Table(
    "sources",
    metadata,
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

propositions = sa.Table(
    "propositions",
    metadata,
    sa.Column("proposition_id", sa.String(200), primary_key=True),
    sa.Column("source_id", sa.String(200), index=True),
    sa.Column("kind", sa.String(20), nullable=False, index=True),
    sa.Column("statement", sa.Text, nullable=False),
    sa.Column("status", sa.String(20), nullable=False, index=True),
    sa.Column("actors", sa.Text, nullable=False),  # JSON list
    sa.Column("topics", sa.Text, nullable=False),  # JSON list
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
    sa.Column("state", sa.Text, nullable=False),  # the whole state as JSON, for detail reads
)

matches = sa.Table(
    "matches",
    metadata,
    sa.Column("match_id", sa.String(200), primary_key=True),
    sa.Column("proposition_id", sa.String(200), nullable=False, index=True),
    sa.Column("evidence_id", sa.String(200), nullable=False, index=True),
    sa.Column("state", sa.String(20), nullable=False, index=True),
    sa.Column("score", sa.Float, nullable=False),
    sa.Column("suggested_stance", sa.String(20)),
    sa.Column("stance", sa.String(20)),
    sa.Column("automatic", sa.Boolean, nullable=False),
    sa.Column("explanation", sa.Text, nullable=False),  # JSON
)

history = sa.Table(
    "history",
    metadata,
    sa.Column("position", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("stream_id", sa.String(200), nullable=False),
    sa.Column("stream_version", sa.Integer, nullable=False),
    sa.Column("event_type", sa.String(100), nullable=False),
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("occurred_at", sa.String(32), nullable=False),
    sa.Column("recorded_at", sa.String(32), nullable=False),
    sa.Index("ix_history_stream", "stream_id", "stream_version"),
)

feeds = sa.Table(
    "feeds",
    metadata,
    sa.Column("feed_id", sa.String(200), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("url", sa.Text),
    sa.Column("path", sa.Text),
    sa.Column("interval_minutes", sa.Integer, nullable=False),
    sa.Column("tags", sa.Text, nullable=False),  # JSON list
    sa.Column("sample", sa.Boolean, nullable=False),
    sa.Column("enabled", sa.Boolean, nullable=False),
    sa.Column("disabled_reason", sa.Text),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("updated_at", sa.String(32), nullable=False),
)

evidence = sa.Table(
    "evidence",
    metadata,
    sa.Column("evidence_id", sa.String(200), primary_key=True),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("title_key", sa.Text, nullable=False, index=True),
    sa.Column("link", sa.Text, index=True),
    sa.Column("summary", sa.Text, nullable=False),
    sa.Column("published_at", sa.String(32), nullable=False, index=True),
    sa.Column("published_is_fetch_time", sa.Boolean, nullable=False),
    sa.Column("feed", sa.String(200), nullable=False),
    sa.Column("language", sa.String(20)),
    sa.Column("content_hash", sa.String(64), nullable=False),
    sa.Column("sightings", sa.Integer, nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("updated_at", sa.String(32), nullable=False),
)

subscribers = sa.Table(
    "subscribers",
    metadata,
    sa.Column("subscriber_id", sa.String(64), primary_key=True),
    sa.Column("email", sa.String(254), nullable=False, index=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("filters", sa.Text, nullable=False),  # JSON {actors, topics, kinds, propositions}
    sa.Column("quiet_weeks", sa.String(10), nullable=False),
    sa.Column("editor", sa.Boolean, nullable=False, server_default=sa.false()),  # digest shows the review backlog
    sa.Column("active", sa.Boolean, nullable=False, index=True),
    sa.Column("subscription", sa.Integer, nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("updated_at", sa.String(32), nullable=False),
)
