"""Query and path parameter types shared by the routes; the cursors themselves live in tracker/queries/paging.py."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import Path, Query
from pydantic import AfterValidator, BeforeValidator

from tracker.queries.paging import MAX_INT

__all__ = ["MAX_INT", "AsOf", "Cursor", "Filter", "Kind", "Limit", "MatchState", "PathId", "SearchText", "Status"]


def _no_nul(value: str | None) -> str | None:
    if value is not None and "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


# Schema only (the validator says why): JSON Schema has no "no NUL" keyword, but a negated class says it.
NO_NUL = r"^[^\x00]*$"
SearchText = Annotated[str | None, Query(max_length=200, json_schema_extra={"pattern": NO_NUL}),
                       AfterValidator(_no_nul)]
Filter = Annotated[str | None, Query(max_length=200, json_schema_extra={"pattern": NO_NUL}), AfterValidator(_no_nul)]
# What tracker/queries/paging.encode makes: URL-safe base64 of a short JSON array. Anything else fails here
# (`invalid-request`); well-formed base64 that is not a cursor this API issued gets `invalid-cursor`.
CURSOR_PATTERN = r"^[A-Za-z0-9_-]*={0,2}$"
Cursor = Annotated[str | None, Query(max_length=2000, pattern=CURSOR_PATTERN,
                                     description="`next_cursor` of the previous page, unchanged (opaque)")]
Limit = Annotated[int, Query(ge=1, le=200)]

# Filters with a fixed set of values: anything else is a 422, not an empty page.
Status = Annotated[Literal["open", "supported", "contradicted", "contested", "confirmed", "refuted", "annulled",
                           "withdrawn"] | None, Query(description="the proposition's status")]
Kind = Annotated[Literal["claim", "prediction", "prescription"] | None, Query()]
MatchState = Annotated[Literal["suggested", "confirmed", "rejected", "retracted"], Query()]


def _no_nul_id(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


def _not_a_number(value: object) -> object:
    # Lax datetime parsing would take "1700000000" as a Unix time; the schema promises an ISO 8601 string.
    if isinstance(value, str) and value.strip().lstrip("+-").replace(".", "", 1).isdigit():
        raise ValueError("must be an ISO 8601 date-time such as 2025-03-25T08:00:00Z, not a number")
    return value


AsOf = Annotated[datetime | None, Query(description="state as recorded at this time (ISO 8601)"),
                 BeforeValidator(_not_a_number)]


PathId = Annotated[str, Path(min_length=1, max_length=200, json_schema_extra={"pattern": NO_NUL}),
                   AfterValidator(_no_nul_id)]
