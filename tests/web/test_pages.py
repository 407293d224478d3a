"""The reader pages over HTTP (FastAPI's TestClient), on SQLite and PostgreSQL: what they show, what they never
show, their headers, the switch that turns them off, and the public URLs the digest links to."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import feedparser
import pytest
from fastapi.testclient import TestClient

from tests.web.seed import CLAIM, OVERDUE, PUBLIC, RESOLVED, SECRETS, SOURCE, seed
from tracker.api.app import create_app
from tracker.config import Settings
from tracker.queries import public
from tracker.store import EventStore
from tracker.store.engine import make_engine
from tracker.web.urls import public_path, public_url

BASE = "https://tracker.example"
PAGES = ["/record/", "/record/?order=overdue&kind=prediction", f"/record/propositions/{RESOLVED}",
         f"/record/propositions/{OVERDUE}", f"/record/propositions/{CLAIM}", f"/record/sources/{SOURCE}",
         "/record/scorecard", "/record/verify"]
FEEDS = ["/record/feed.atom", f"/record/propositions/{RESOLVED}/feed.atom"]


def _client(url: str, tmp_path: Path, **settings: object) -> TestClient:
    config = Settings(database_url=url, audit_key_file=str(tmp_path / "audit.pem"),
                      feeds_file=str(tmp_path / "none.toml"), public_base_url=BASE, **settings)
    return TestClient(create_app(EventStore(make_engine(url)), config))


@pytest.fixture
def client(database_url: str, tmp_path: Path) -> Iterator[TestClient]:
    seed(database_url, tmp_path / "audit.pem")
    with _client(database_url, tmp_path) as found:
        yield found


def test_no_page_or_feed_shows_what_is_not_public(client: TestClient) -> None:
    for path in PAGES + FEEDS:
        response = client.get(path)
        assert response.status_code == 200, path
        leaked = [name for name, secret in SECRETS.items() if secret.lower() in response.text.lower()]
        assert leaked == [], f"{path} shows {leaked}"
    shown = client.get(f"/record/propositions/{RESOLVED}").text + client.get(f"/record/propositions/{CLAIM}").text
    assert PUBLIC["supporting evidence"] in shown and PUBLIC["contradicting evidence"] in shown


def test_pages_have_their_own_csp_canonical_links_and_open_graph(client: TestClient) -> None:
    for path in PAGES:
        response = client.get(path)
        csp = response.headers["content-security-policy"]
        assert "style-src 'self'" in csp and "script-src" not in csp and "unsafe-inline" not in csp
        assert response.headers["x-frame-options"] == "DENY"  # the middleware's other headers still apply
        canonical = re.search(r'<link rel="canonical" href="([^"]+)">', response.text)
        assert canonical and canonical.group(1).startswith(BASE + "/record/"), path
        assert '<meta property="og:title"' in response.text and '<html lang="en">' in response.text
    css = client.get("/record/static/record.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    # the API keeps its strict policy
    assert "style-src 'unsafe-inline'" in client.get("/health").headers["content-security-policy"]


def test_claim_review_only_on_resolved_propositions(client: TestClient) -> None:
    page = client.get(f"/record/propositions/{RESOLVED}").text
    found = re.search(r'<script type="application/ld\+json">(.*?)</script>', page, re.S)
    assert found
    review = json.loads(found.group(1))
    assert review["reviewRating"]["ratingValue"] == 5 and review["url"] == BASE + f"/record/propositions/{RESOLVED}"
    assert "application/ld+json" not in client.get(f"/record/propositions/{OVERDUE}").text


def test_feeds_are_atom_with_stable_entry_ids(client: TestClient) -> None:
    first = feedparser.parse(client.get("/record/feed.atom").content)
    assert not first.bozo and first.version == "atom10"
    assert {e.link.split("#")[0] for e in first.entries} >= {BASE + f"/record/propositions/{p}"
                                                             for p in (RESOLVED, CLAIM)}
    again = feedparser.parse(client.get("/record/feed.atom").content)
    assert [e.id for e in again.entries] == [e.id for e in first.entries]


def test_index_pages_with_keyset_cursors_and_bad_input_is_a_400(client: TestClient) -> None:
    first = client.get("/record/")
    cursor = re.search(r'href="/record/\?cursor=([^"&]+)"', first.text)
    assert cursor
    second = client.get(f"/record/?cursor={cursor.group(1)}")
    assert second.status_code == 200 and "(continued)" in second.text and "Next page" not in second.text
    assert client.get("/record/?cursor=not-ours").status_code == 400
    assert client.get("/record/?q=%00").status_code == 400
    assert client.get("/record/propositions/nothing-here").status_code == 404
    assert client.get("/record/sources/nothing-here").status_code == 404


def test_root_redirects_to_the_record(client: TestClient) -> None:
    response = client.get("/", follow_redirects=False)
    assert response.status_code == 302 and response.headers["location"] == "/record/"


def test_the_setting_turns_the_pages_off(sqlite_url: str, tmp_path: Path) -> None:
    seed(sqlite_url, tmp_path / "audit.pem")
    with _client(sqlite_url, tmp_path, public_pages=False) as off:
        for path in [*PAGES, *FEEDS, "/", "/record/static/record.css"]:
            assert off.get(path, follow_redirects=False).status_code == 404, path


def test_queries_overdue_first_and_topic_filter(database_url: str, tmp_path: Path) -> None:
    seed(database_url, tmp_path / "audit.pem")
    engine = make_engine(database_url)
    try:
        page = public.list_propositions(engine, overdue_first=True, limit=2)
        assert [r.id for r in page.items] == [OVERDUE, RESOLVED]
        rest = public.list_propositions(engine, overdue_first=True, limit=100, cursor=page.next_cursor)
        assert OVERDUE not in [r.id for r in rest.items] and len(rest.items) == 56
        topical = {r.id for r in public.list_propositions(engine, topic="energy-infrastructure").items}
        assert topical == {RESOLVED, CLAIM}
        assert public.list_propositions(engine, q=SECRETS["rejected evidence"]).items == []
    finally:
        engine.dispose()


def test_public_urls() -> None:
    assert public_url("https://t.example/", "proposition", "a b") == "https://t.example/record/propositions/a%20b"
    assert public_url("https://t.example", "index") == "https://t.example/record/"
    assert public_path("proposition_feed", "p-1") == "/record/propositions/p-1/feed.atom"
    with pytest.raises(ValueError):
        public_path("proposition")
    with pytest.raises(ValueError):
        public_path("nope", "x")
