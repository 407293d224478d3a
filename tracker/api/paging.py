"""Opaque keyset cursors: the sort key of the last row seen, so pages stay stable while events arrive."""

from __future__ import annotations

import base64
import json
import math
from typing import Annotated, Any

from fastapi import HTTPException, Path, Query
from pydantic import AfterValidator


def _no_nul(value: str | None) -> str | None:
    if value is not None and "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


SearchText = Annotated[str | None, Query(max_length=200), AfterValidator(_no_nul)]
Filter = Annotated[str | None, Query(max_length=200), AfterValidator(_no_nul)]
Cursor = Annotated[str | None, Query(max_length=2000, description="`next_cursor` of the previous page")]
Limit = Annotated[int, Query(ge=1, le=200)]
# The largest integer SQLite and PostgreSQL bigint hold: a larger bind parameter is an OverflowError (a 500).
MAX_INT = 2**63 - 1


def encode(*key: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(key), separators=(",", ":")).encode()).decode()


def decode(cursor: str, *types: type) -> tuple[Any, ...]:
    """The key inside a cursor, checked against the expected types; 422 for anything else."""
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
        raise HTTPException(422, "cursor is not valid")
    return tuple(key)


def _storable_number(value: Any) -> bool:
    # A cursor is client-supplied text: json.loads accepts Infinity/NaN and ints of any size.
    if isinstance(value, int):
        return -MAX_INT <= value <= MAX_INT
    if isinstance(value, float):
        return math.isfinite(value)
    return True


def _no_nul_id(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


PathId = Annotated[str, Path(min_length=1, max_length=200), AfterValidator(_no_nul_id)]
