"""Migration 0012: SQLite's history table keyed by its rowid (position INTEGER PRIMARY KEY), rows kept as they were."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command

from tracker.store.migrate import alembic_config, upgrade

ROW = (7, "proposition-p1", 3, "MatchSuggested", "user:ann", "2026-01-02T03:04:05.000006Z",
       "2026-01-02T03:04:06.000007Z")


def _indexes(connection: sa.Connection) -> set[str]:
    return {row[0] for row in connection.exec_driver_sql(
        "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'history'")}


def test_history_is_rebuilt_on_its_rowid_with_rows_and_stream_index_kept(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    command.upgrade(alembic_config(url), "0011")
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        assert "sqlite_autoindex_history_1" in _indexes(connection)  # the BIGINT key's own index
        connection.exec_driver_sql("INSERT INTO history VALUES (?, ?, ?, ?, ?, ?, ?)", ROW)
    upgrade(url)
    with engine.connect() as connection:
        assert _indexes(connection) == {"ix_history_stream"}
        assert connection.exec_driver_sql("SELECT * FROM history").all() == [ROW]
        assert connection.exec_driver_sql("SELECT rowid FROM history").scalar() == 7
        plan = " ".join(str(r) for r in connection.exec_driver_sql(
            "EXPLAIN QUERY PLAN SELECT * FROM history WHERE stream_id = 'x' ORDER BY stream_version"))
        assert "ix_history_stream" in plan
    engine.dispose()
