"""Query and path parameter types shared by the routes; the cursors themselves live in tracker/queries/paging.py."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query
from pydantic import AfterValidator

from tracker.queries.paging import MAX_INT

__all__ = ["MAX_INT", "Cursor", "Filter", "Limit", "PathId", "SearchText"]


def _no_nul(value: str | None) -> str | None:
    if value is not None and "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


SearchText = Annotated[str | None, Query(max_length=200), AfterValidator(_no_nul)]
Filter = Annotated[str | None, Query(max_length=200), AfterValidator(_no_nul)]
Cursor = Annotated[str | None, Query(max_length=2000, description="`next_cursor` of the previous page")]
Limit = Annotated[int, Query(ge=1, le=200)]


def _no_nul_id(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


PathId = Annotated[str, Path(min_length=1, max_length=200), AfterValidator(_no_nul_id)]
