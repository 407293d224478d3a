"""Audit endpoints: the raw history, chain and checkpoint verification, the signing public key.

Access control is added in one place: AUDIT_DEPENDENCIES (e.g. a role check) applies to every route here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool

from tracker.api.auth import require
from tracker.api.deps import get_store
from tracker.api.paging import MAX_INT
from tracker.audit import checkpoint as checkpoints
from tracker.audit.checks import verify_log
from tracker.audit.offline import key_id
from tracker.config import get_settings
from tracker.queries.audit import events_after, stream_events
from tracker.repository.unit_of_work import NotFound
from tracker.store import EventStore

AUDIT_DEPENDENCIES: list[Any] = [Depends(require("auditor"))]  # authentication/roles plug in here

router = APIRouter(prefix="/audit", tags=["audit"], dependencies=AUDIT_DEPENDENCIES)

def get_key_file(request: Request) -> Path:
    """The signing key file: app.state.audit_key_file if the app set one, else the setting."""
    return Path(getattr(request.app.state, "audit_key_file", None) or get_settings().audit_key_file)


@router.get("/events")
def audit_events(
    store: Annotated[EventStore, Depends(get_store)],
    after: Annotated[int, Query(ge=0, le=MAX_INT, description="return events with position > after")] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    """The global log in position order. Positions are given out in commit order with no gaps, so paging
    with `after` = the last position seen never skips an event, however late it committed."""
    page = events_after(store.engine, after, limit)
    return {
        "events": page.events,
        "head": page.head,
        "next_after": page.events[-1]["position"] if page.events else after,
    }


@router.get("/streams/{stream_id}")
def audit_stream(stream_id: str, store: Annotated[EventStore, Depends(get_store)]) -> dict[str, Any]:
    """Every event of one stream in version order, with its full envelope."""
    found = stream_events(store.engine, stream_id)
    if not found:
        raise NotFound(f"no stream {stream_id}")
    return {"stream_id": stream_id, "events": found}


@router.get("/verify")
async def audit_verify(store: Annotated[EventStore, Depends(get_store)]) -> dict[str, Any]:
    """Recompute the hash chain and check every recorded checkpoint; `broken_at` names the first bad position."""
    report = await run_in_threadpool(verify_log, store)
    return report.to_dict()


@router.get("/public-key")
def audit_public_key(key_file: Annotated[Path, Depends(get_key_file)]) -> dict[str, str]:
    """The Ed25519 key that signs checkpoints (raw hex and PEM), and its key_id."""
    key = checkpoints.load_or_create_key(key_file)
    public = checkpoints.public_key_hex(key)
    return {"algorithm": "Ed25519", "key_id": key_id(public), "public_key": public,
            "pem": checkpoints.public_key_pem(key)}


@router.get("/checkpoints/latest", responses={404: {"description": "no checkpoint has been recorded yet"}})
def audit_latest_checkpoint(store: Annotated[EventStore, Depends(get_store)]) -> dict[str, Any]:
    """The newest signed checkpoint and the position of the event that recorded it."""
    latest = checkpoints.latest_checkpoint(store)
    if latest is None:
        raise NotFound("no checkpoint has been recorded yet (run `tracker audit checkpoint`)")
    return {"recorded_at_position": latest[0], "checkpoint": latest[1].to_dict()}
