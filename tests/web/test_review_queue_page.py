"""The queue page's feed list and datalist of proposition ids are kept between requests while the log stays at
the same head (tracker/web/review.py, _choices), and follow every write."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from tracker.domain import evidence as ev
from tracker.repository.unit_of_work import evidence_stream


def _csrf(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)  # type: ignore[union-attr]


def test_the_feed_list_and_the_proposition_ids_follow_writes(sqlite_url: str, tmp_path: Path) -> None:
    from tests.api.conftest import make_api, register, suggest

    for api in make_api(sqlite_url, tmp_path):
        register(api.tracker, "p-1")
        suggest(api.tracker, "p-1", "m-1", 0.9)
        form = api.client.get("/review/signin")
        api.client.post("/review/signin", data={"csrf_token": _csrf(form.text), "token": api.tokens["editor"]})
        first = api.client.get("/review").text
        assert '<option value="p-1">' in first and '<option value="p-&lt;2&gt;">' not in first
        assert api.client.get("/review").text.count("<option value=") == first.count("<option value=")
        register(api.tracker, "p-<2>")
        with api.tracker.unit_of_work(actor="system:ingest") as uow:
            uow.execute(evidence_stream("ev-x"), ev.IngestEvidence(
                evidence_id="ev-x", title="Item", link="https://news.example.org/x", summary="",
                published_at="2026-03-01T08:00:00.000000Z", published_is_fetch_time=False, feed="wire-b",
                guid="ev-x", language="en", content_hash=hashlib.sha256(b"ev-x").hexdigest()))
        later = api.client.get("/review").text
        assert '<option value="p-&lt;2&gt;">' in later, "a new proposition is offered, escaped"
        assert '<option value="wire-b">wire-b</option>' in later, "a new feed is in the filter"
