"""The API's hot reads (the token check, a proposition, the list, the review queue), made on the event loop of the
worker without a trip through the thread pool, and answered as JSON text built once from the rows.

Each process keeps one DBAPI connection for them (opened on first use from the engine, so configured like every
other connection: SQLite's pragmas, PostgreSQL's search_path) outside the pool: in autocommit, so each statement
sees the latest commit and no transaction stays open between requests. The statements are written once per
dialect with "?" placeholders ("%s" for psycopg, which prepares them server side after a few runs; sqlite3 keeps
them prepared in its statement cache). SQLAlchemy's per-statement work was most of a read's CPU.

Every read asks the database: a token revoked in any process is refused by the next request in every worker.
The answers equal what the SQLAlchemy queries of propositions.py and review.py give, item for item (tests/api/
test_fast_reads.py); a list narrowed by `q` (a text search, not a hot read) still goes through those.
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Sequence
from json.encoder import encode_basestring  # type: ignore[attr-defined]
from typing import Any

import sqlalchemy as sa

from tracker.domain.user import User, token_hash
from tracker.queries.paging import decode, encode
from tracker.queries.propositions import detail_fields, is_overdue, today

_LIST_COLUMNS = ("proposition_id, kind, statement, status, source_id, actors, topics, probability, resolve_by, "
                 "outcome, supports, contradicts, context, awaiting_review, version")
_STATEMENTS = {
    "user": "SELECT name, role FROM api_users WHERE token_sha256 = ? AND revoked_at IS NULL",
    "detail": "SELECT version, supports, contradicts, context, awaiting_review, state FROM propositions "
              "WHERE proposition_id = ?",
}
# The review queue as tracker/queries/review.py's review_queue reads it: best first (score descending, then match
# id), each match with its item and proposition by outer joins (a row is never lost; both are primary keys, so never
# doubled). On PostgreSQL the page is chosen from `matches` alone first (NESTED): it planned the three-table join on
# every run, about 2 ms of its CPU per page against 0.4 ms nested. SQLite plans either in microseconds and runs the
# flat join faster (0.25 against 0.32 ms: no co-routine, no sort of the page).
_QUEUE_COLUMNS = ("match_id, proposition_id, evidence_id, state, score, suggested_stance, stance, automatic, "
                  "explanation")
_QUEUE_JOINS = (
    "LEFT OUTER JOIN evidence e ON e.evidence_id = m.evidence_id "
    "LEFT OUTER JOIN propositions p ON p.proposition_id = m.proposition_id"
)
_QUEUE_SELECT = ("SELECT " + ", ".join(f"m.{c}" for c in _QUEUE_COLUMNS.split(", "))
                 + ", e.title, e.link, e.feed, e.published_at, p.statement, p.status, p.version")
FLAT = _QUEUE_SELECT + " FROM matches m " + _QUEUE_JOINS + " WHERE {where} ORDER BY {order} LIMIT ?"
NESTED = (_QUEUE_SELECT + " FROM (SELECT " + _QUEUE_COLUMNS + " FROM matches m WHERE {where} ORDER BY {order} "
          "LIMIT ?) m " + _QUEUE_JOINS + " ORDER BY {order}")
_LIKE_ESCAPE = "/"


def _like_contains(value: str) -> str:
    """A LIKE pattern finding `value` anywhere, as SQLAlchemy's contains(..., autoescape=True) writes it."""
    escaped = value.replace(_LIKE_ESCAPE, _LIKE_ESCAPE * 2).replace("%", _LIKE_ESCAPE + "%").replace(
        "_", _LIKE_ESCAPE + "_")
    return f"%{escaped}%"


def _text(value: str | None) -> str:
    return "null" if value is None else encode_basestring(value)


def _number(value: float | None) -> str:
    # What the response models write for `float | None` (a non-finite float is written null).
    if value is None or not math.isfinite(value):
        return "null"
    return repr(float(value))


def queue_statement(state: str, proposition_id: str | None, limit: int, cursor: str | None,
                    nested: bool = False) -> tuple[str, list[Any]]:
    """The review queue's page query (with "?"; NESTED or FLAT) and its parameters: one row more than the page, to
    know if there is a next one."""
    where = ["m.state = ?"]
    params: list[Any] = [state]
    if proposition_id:
        where.append("m.proposition_id = ?")
        params.append(proposition_id)
    if cursor:
        score, match_id = decode(cursor, float | int, str)
        # The first bound alone is what the index (state, score DESC, ...) can seek to: without it a deep page
        # walked every suggestion before the cursor (344 ms at 400,000 in, 1.1 ms with it, SQLite).
        where.append("m.score <= ? AND (m.score < ? OR (m.score = ? AND m.match_id > ?))")
        params += [score, score, score, match_id]
    text = (NESTED if nested else FLAT).format(where=" AND ".join(where), order="m.score DESC, m.match_id")
    return text, [*params, limit + 1]


class HotReads:
    """The hot reads of one process over `engine` (see the module's docstring). Thread-safe: one lock around the
    connection; meant for short statements only."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self.sqlite = engine.dialect.name == "sqlite"
        self._lock = threading.Lock()
        self._proxy: Any = None
        self._driver: Any = None
        self._sql: dict[str, str] = {}

    # ---- the connection -----------------------------------------------------------------------------

    def _open(self) -> Any:
        proxy = self.engine.raw_connection()
        driver = proxy.driver_connection
        proxy.detach()  # ours for the process's life: the pool neither counts it nor hands it out
        if not self.sqlite:
            driver.rollback()  # the dialect's first-connect queries may have left a transaction open
            driver.autocommit = True
        self._proxy, self._driver = proxy, driver
        return driver

    def _drop(self) -> None:
        # Closed on the driver itself: the detached pool proxy would first try a rollback on a broken connection.
        driver, self._proxy, self._driver = self._driver, None, None
        if driver is not None:
            try:
                driver.close()
            except Exception:  # noqa: BLE001 - it is broken already; a new one is opened next time
                pass

    def close(self) -> None:
        with self._lock:
            self._drop()

    def _statement(self, text: str) -> str:
        found = self._sql.get(text)
        if found is None:
            found = self._sql[text] = text if self.sqlite else text.replace("?", "%s")
        return found

    def rows(self, text: str, params: Sequence[Any]) -> list[Any]:
        """All rows of one statement (written with "?"), on this process's connection. A PostgreSQL connection
        found broken is replaced once (what pool_pre_ping does for the pool); SQLite's errors are raised."""
        sql = self._statement(text)
        with self._lock:
            for attempt in (1, 2):
                driver = self._driver if self._driver is not None else self._open()
                try:
                    return driver.execute(sql, params).fetchall()  # type: ignore[no-any-return]
                except Exception:
                    broken = not self.sqlite and getattr(driver, "closed", False)
                    if self.sqlite or not broken or attempt == 2:
                        if broken:
                            self._drop()
                        raise
                    self._drop()
        raise AssertionError("unreachable")

    # ---- the reads ----------------------------------------------------------------------------------

    def user_for_token(self, token: str) -> User | None:
        """The active user holding `token` (what tracker.service.users.user_for_token answers)."""
        found = self.rows(_STATEMENTS["user"], (token_hash(token),))
        return User(found[0][0], found[0][1]) if found else None

    def proposition(self, proposition_id: str) -> dict[str, Any] | None:
        """GET /propositions/{id}'s answer (propositions.detail_fields of its read-model row), or None for an unknown
        id."""
        found = self.rows(_STATEMENTS["detail"], (proposition_id,))
        if not found:
            return None
        version, supports, contradicts, context, awaiting_review, state = found[0]
        return detail_fields(json.loads(state), version,
                             {"supports": supports, "contradicts": contradicts, "context": context}, awaiting_review)

    def propositions_json(
        self, *, status: str | None = None, kind: str | None = None, actor: str | None = None,
        overdue: bool | None = None, limit: int = 50, cursor: str | None = None,
    ) -> str:
        """GET /propositions' answer (a PropositionPage, as JSON text) for every filter but `q`: the page
        propositions.list_propositions gives, in id order after `cursor`."""
        where: list[str] = []
        params: list[Any] = []
        if status:
            where.append("status = ?")
            params.append(status)
        if kind:
            where.append("kind = ?")
            params.append(kind)
        if actor:
            where.append(f"actors LIKE ? ESCAPE '{_LIKE_ESCAPE}'")
            params.append(_like_contains(json.dumps(actor)))
        on = today()
        if overdue is not None:
            late = "resolve_by IS NOT NULL AND outcome IS NULL AND resolve_by < ?"
            where.append(late if overdue else f"NOT ({late})")
            params.append(on)
        if cursor:
            where.append("proposition_id > ?")
            params.append(decode(cursor, str)[0])
        text = f"SELECT {_LIST_COLUMNS} FROM propositions"
        if where:
            text += " WHERE " + " AND ".join(where)
        rows = self.rows(text + " ORDER BY proposition_id LIMIT ?", (*params, limit + 1))
        more = len(rows) > limit
        rows = rows[:limit]
        items = ",".join([
            f'{{"id":{_text(pid)},"kind":{_text(kind_)},"statement":{_text(statement)},"status":{_text(status_)},'
            f'"source_id":{_text(source_id)},"actors":{actors},"topics":{topics},"probability":{_number(p)},'
            f'"resolve_by":{_text(resolve_by)},'
            f'"overdue":{"true" if is_overdue(resolve_by, outcome, on) else "false"},'
            f'"evidence":{{"supports":{s},"contradicts":{c},"context":{x}}},"awaiting_review":{aw},'
            f'"version":{version}}}'
            for (pid, kind_, statement, status_, source_id, actors, topics, p, resolve_by, outcome, s, c, x, aw,
                 version) in rows
        ])
        next_cursor = encode(rows[-1][0]) if more else None
        return f'{{"items":[{items}],"next_cursor":{_text(next_cursor)}}}'

    def queue_json(
        self, *, state: str = "suggested", proposition_id: str | None = None, limit: int = 50,
        cursor: str | None = None,
    ) -> str:
        """GET /matches' answer (a MatchPage, as JSON text): the page review.review_queue gives."""
        rows = self.rows(*queue_statement(state, proposition_id, limit, cursor, nested=not self.sqlite))
        more = len(rows) > limit
        rows = rows[:limit]
        items = ",".join([
            f'{{"id":{_text(mid)},"state":{_text(state_)},"score":{_number(score_)},'
            f'"suggested_stance":{_text(suggested)},"stance":{_text(stance)},'
            f'"automatic":{"true" if automatic else "false"},"explanation":{explanation},'
            f'"evidence":{{"id":{_text(eid)},"title":{_text(title)},"link":{_text(link)},"feed":{_text(feed)},'
            f'"published_at":{_text(published_at)}}},'
            f'"proposition":{{"id":{_text(pid)},"statement":{_text(statement)},"status":{_text(status)},'
            f'"version":{"null" if version is None else int(version)}}}}}'
            for (mid, pid, eid, state_, score_, suggested, stance, automatic, explanation, title, link, feed,
                 published_at, statement, status, version) in rows
        ])
        next_cursor = encode(rows[-1][4], rows[-1][0]) if more else None
        return f'{{"items":[{items}],"next_cursor":{_text(next_cursor)}}}'
