"""GET /metrics: the Prometheus text format, for the operator's scraper (not part of the OpenAPI contract).

Who may read it is TRACKER_METRICS (tracker/config.py): `local` (the default) answers the loopback address
without a token, since a scraper on the same host (or an SSH tunnel) is the operator, and asks anyone else for an
API token of any role (`tracker users add prometheus --role reader`; Prometheus sends it with
`authorization: {credentials: ...}`); `token` always asks; `open` never does; `off` answers 404. Behind a reverse
proxy on the same host the client address is the proxy's unless uvicorn takes it from X-Forwarded-For (it does for
a proxy at 127.0.0.1 that sets it): a proxy that does not must not pass /metrics through, or use `token`.

The values: what every process counted (tracker/observability/metrics.py), and two gauges read by this scrape,
the store's position and the review-queue depth (one indexed COUNT each).
"""

from __future__ import annotations

import ipaddress

from fastapi import FastAPI, Request
from fastapi.responses import Response
from starlette.exceptions import HTTPException

from tracker.api.auth import Unauthorized
from tracker.observability import metrics
from tracker.queries.operations import review_queue_depth
from tracker.service.users import user_for_token
from tracker.store import EventStore

PATH = "/metrics"


def scrape_gauges(store: EventStore) -> metrics.ScrapeGauges:
    return metrics.ScrapeGauges({
        "tracker_store_position": ("The store's highest event position (it only grows while anything is written)",
                                   store.head),
        "tracker_review_queue_depth": ("Suggestions waiting for an editor's decision",
                                       lambda: review_queue_depth(store.engine)),
    })


def _loopback(request: Request) -> bool:
    host = request.client.host if request.client else ""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)
    return bool(address.is_loopback or (mapped is not None and mapped.is_loopback))


def _token_user(request: Request, store: EventStore) -> bool:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return False
    user = user_for_token(store.engine, token.strip())
    if user is None:
        return False
    request.state.user = user  # the access log names who scraped
    return True


def install(app: FastAPI) -> None:
    @app.get(PATH, include_in_schema=False)
    def scrape(request: Request) -> Response:
        mode = request.app.state.settings.metrics
        store = request.app.state.store
        if mode == "off":
            raise HTTPException(404)
        if mode != "open" and not (mode == "local" and _loopback(request)) and not _token_user(request, store):
            raise Unauthorized(f"{PATH} needs an API token from this address (TRACKER_METRICS={mode})")
        return Response(metrics.exposition(scrape_gauges(store)), media_type=metrics.CONTENT_TYPE)
