"""Evidence attached by hand and feeds fetched on demand, over HTTP, with a real local feed server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.api.conftest import Api, register
from tests.ingest.feedserver import FeedServer, Reply
from tests.test_ingest_flow import ENERGY, rss


@pytest.fixture
def server() -> Iterator[FeedServer]:
    with FeedServer() as running:
        yield running


def test_attach_by_hand_confirms_and_dedupes_with_the_feed_item(
    api: Api, server: FeedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    register(api.tracker, "p1", "Russia will strike Ukrainian power plants during the energy truce")
    body = {
        "url": "https://news.example.org/energy-strike?utm_campaign=x#frag", "title": ENERGY[1],
        "published_at": "2025-04-01T08:00:00Z", "stance": "supports", "note": "direct hit on a plant",
    }
    first = api.client.post("/propositions/p1/evidence", json=body, headers=api.auth("editor"))
    assert first.status_code == 201, first.text
    proposition = api.client.get("/propositions/p1", headers=api.auth("reader")).json()
    assert proposition["status"] == "supported"
    assert proposition["evidence"]["supports"] == 1
    history = api.client.get("/propositions/p1/history", headers=api.auth("reader")).json()
    assert [h["event_type"] for h in history][-3:] == ["MatchSuggested", "MatchConfirmed", "StatusChanged"]
    assert history[-2]["actor"] == "user:editor"

    # the same story arriving through a feed is a sighting of the attached item, not a second item
    monkeypatch.setattr(api.client.app.state.settings, "allow_private_feeds", True)
    url = server.route("/wire.xml", Reply(body=rss(ENERGY)))
    created = api.client.post("/feeds", json={"name": "Wire", "url": url}, headers=api.auth("editor"))
    assert created.status_code == 201, created.text
    fetched = api.client.post("/feeds/wire/fetch", headers=api.auth("editor"))
    assert fetched.status_code == 200, fetched.text
    assert (fetched.json()["items_new"], fetched.json()["sightings"]) == (0, 1)
    items = api.client.get("/evidence", headers=api.auth("reader")).json()["items"]
    assert len(items) == 1 and items[0]["sightings"] == 2


def test_fetch_now_ingests_and_a_bad_url_is_refused(api: Api, server: FeedServer) -> None:
    refused = api.client.post("/feeds", json={"name": "Local", "url": server.url("/x.xml")},
                              headers=api.auth("editor"))
    assert refused.status_code == 422
    assert refused.headers["content-type"].startswith("application/problem+json")
    head = api.head()
    assert api.client.post("/feeds/nope/fetch", headers=api.auth("editor")).status_code == 404
    assert api.client.post("/feeds/nope/fetch", headers=api.auth("reader")).status_code == 403
    assert api.head() == head


def test_editor_re_enables_a_disabled_feed(api: Api, server: FeedServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(api.client.app.state.settings, "allow_private_feeds", True)
    url = server.route("/gone.xml", Reply(status=410))
    assert api.client.post("/feeds", json={"name": "Gone", "url": url}, headers=api.auth("editor")).status_code == 201
    assert api.client.post("/feeds/gone/fetch", headers=api.auth("editor")).json()["result"] == "disabled"
    assert api.client.post("/feeds/gone/enable", headers=api.auth("reader")).status_code == 403
    assert api.client.post("/feeds/nope/enable", headers=api.auth("editor")).status_code == 404
    enabled = api.client.post("/feeds/gone/enable", headers=api.auth("editor"))
    assert enabled.status_code == 200, enabled.text
    assert enabled.json()["feed"]["enabled"] is True
    assert [e["event_type"] for e in enabled.json()["events"]] == ["FeedUpdated"]
