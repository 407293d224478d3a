"""Keyset paging: opaque cursors holding the sort key of the last row seen, so pages stay stable while events
arrive, and the one WHERE clause that continues after such a key."""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import sqlalchemy as sa

# The largest integer SQLite and PostgreSQL bigint hold: a larger bind parameter is an OverflowError (a 500).
MAX_INT = 2**63 - 1

T = TypeVar("T")


class BadCursor(ValueError):
    """A cursor this API did not issue (or one tampered with)."""


@dataclass(frozen=True)
class SortKey:
    """One column of a keyset order: its direction and the type its value has inside a cursor."""

    column: sa.ColumnElement[Any]
    type: Any  # a type or a union of types, checked with isinstance
    descending: bool = False

    @property
    def name(self) -> str:
        return self.column.key  # type: ignore[attr-defined,no-any-return]


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    next_cursor: str | None


def encode(*key: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(key), separators=(",", ":")).encode()).decode()


def decode(cursor: str, *types: Any) -> tuple[Any, ...]:
    """The key inside a cursor, checked against the expected types; BadCursor for anything else."""
    try:
        key = json.loads(base64.urlsafe_b64decode(cursor.encode("ascii")))
    except (ValueError, UnicodeError):
        key = None
    if (
        not isinstance(key, list) or len(key) != len(types)
        or not all(isinstance(v, t) and not isinstance(v, bool) for v, t in zip(key, types, strict=True))
        or any(isinstance(v, str) and "\x00" in v for v in key)
        or any(not _storable_number(v) for v in key)
    ):
        raise BadCursor("cursor is not valid")
    return tuple(key)


def _storable_number(value: Any) -> bool:
    # A cursor is client-supplied text: json.loads accepts Infinity/NaN and ints of any size.
    if isinstance(value, int):
        return -MAX_INT <= value <= MAX_INT
    if isinstance(value, float):
        return math.isfinite(value)
    return True


def after(order: Sequence[SortKey], key: Sequence[Any]) -> sa.ColumnElement[bool]:
    """Rows strictly after `key` in `order`: (a > x) OR (a = x AND b > y) OR ..., `<` for descending keys."""
    alternatives = []
    for i, sort in enumerate(order):
        beyond = sort.column < key[i] if sort.descending else sort.column > key[i]
        equal = [order[j].column == key[j] for j in range(i)]
        alternatives.append(sa.and_(*equal, beyond) if equal else beyond)
    return alternatives[0] if len(alternatives) == 1 else sa.or_(*alternatives)


def seekable(order: Sequence[SortKey], key: Sequence[Any]) -> list[sa.ColumnElement[bool]]:
    """A redundant bound on the first sort column (>= the key's value, <= when descending) for multi-column keys.

    `after`'s OR hides the range from the planner, so SQLite and PostgreSQL walked every row before the cursor (a
    deep page cost as much as all the pages before it); with this bound beside it they seek to the cursor."""
    if len(order) < 2:
        return []  # `after` is then a plain comparison already
    first = order[0]
    return [first.column <= key[0] if first.descending else first.column >= key[0]]


def keyset_page(
    connection: sa.Connection,
    query: sa.Select[Any],
    order: Sequence[SortKey],
    limit: int,
    cursor: str | None,
    make: Callable[[Any], T],
) -> Page[T]:
    """One page of `query` in `order`, continuing after `cursor`; `make` turns a row into an item.

    One row more than asked is read to know whether there is a next page; its cursor is the last item's key.
    """
    query = query.order_by(*(s.column.desc() if s.descending else s.column for s in order)).limit(limit + 1)
    if cursor:
        key = decode(cursor, *(s.type for s in order))
        query = query.where(*seekable(order, key), after(order, key))
    rows = connection.execute(query).all()
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = encode(*(getattr(rows[-1], s.name) for s in order)) if more else None
    return Page([make(row) for row in rows], next_cursor)
