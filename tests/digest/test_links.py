"""Links that are safe: opening an unsubscribe link changes nothing (a confirmation page whose button POSTs,
allowed by that route's CSP), RFC 8058 one-click still works; /docs and /redoc load only same-origin assets."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from tests.digest.conftest import subscribe, this_week
from tests.digest.smtpserver import SmtpServer
from tracker.api.app import create_app
from tracker.config import Settings
from tracker.digest.service import load_subscribers, send_week
from tracker.repository.unit_of_work import Tracker, subscriber_stream
from tracker.store import EventStore

BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


@pytest.fixture
def client(store: EventStore, settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(store, settings)) as test_client:
        yield test_client


def _mailed_link(tracker: Tracker, settings: Settings, smtp: SmtpServer, email: str) -> str:
    send_week(tracker, settings, this_week())
    (message,) = smtp.recorder.to(email)
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    link = message["List-Unsubscribe"].strip("<>")
    assert link in message.get_body(("plain",)).get_content() and link.replace("&", "&amp;") in (
        message.get_body(("html",)).get_content())
    return link.removeprefix("https://tracker.example")


def test_get_shows_a_confirmation_form_and_unsubscribes_nobody(
    client: TestClient, tracker: Tracker, settings: Settings, smtp: SmtpServer
) -> None:
    sid = subscribe(tracker, "ann@example.org")
    path = _mailed_link(tracker, settings, smtp, "ann@example.org")
    head = tracker.store.head()
    for headers in (BROWSER, {}, {"Accept": "*/*", "User-Agent": "Mail-Scanner/1.0"}):
        page = client.get(path, headers=headers)
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert page.headers["cache-control"] == "no-store"
        (form,) = re.findall(r'<form method="post" action="([^"]+)">', page.text)
        assert form.replace("&amp;", "&") == path, "the button posts to the same URL"
        assert "ann@example.org" in page.text and "<button" in page.text
        csp = page.headers["content-security-policy"]
        assert "form-action 'self'" in csp and "default-src 'none'" in csp and "script-src" not in csp
    assert tracker.store.head() == head, "GET changed nothing"
    assert load_subscribers(tracker.store)[sid].active
    # elsewhere forms stay forbidden
    assert "form-action 'none'" in client.get("/health").headers["content-security-policy"]


def test_the_button_post_unsubscribes_and_says_so(
    client: TestClient, tracker: Tracker, settings: Settings, smtp: SmtpServer
) -> None:
    sid = subscribe(tracker, "ann@example.org")
    path = _mailed_link(tracker, settings, smtp, "ann@example.org")
    done = client.post(path, headers={**BROWSER, "Content-Type": "application/x-www-form-urlencoded"})
    assert done.status_code == 200 and "Unsubscribed" in done.text
    assert "ann@example.org will no longer receive" in done.text
    assert not load_subscribers(tracker.store)[sid].active
    events = tracker.store.read_stream(subscriber_stream(sid))
    assert [e.event_type for e in events] == ["SubscriberAdded", "SubscriberRemoved"]
    assert events[-1].payload["via"] == "unsubscribe-link"


def test_rfc8058_one_click_post_still_unsubscribes(
    client: TestClient, tracker: Tracker, settings: Settings, smtp: SmtpServer
) -> None:
    sid = subscribe(tracker, "bob@example.org")
    path = _mailed_link(tracker, settings, smtp, "bob@example.org")
    response = client.post(path, data={"List-Unsubscribe": "One-Click"})
    assert response.status_code == 200 and response.json() == {"unsubscribed": True, "changed": True}
    events = tracker.store.read_stream(subscriber_stream(sid))
    assert events[-1].event_type == "SubscriberRemoved" and events[-1].payload["via"] == "one-click"
    assert client.post(path, data={"List-Unsubscribe": "One-Click"}).json()["changed"] is False


def test_docs_and_redoc_load_only_same_origin_assets_that_answer(client: TestClient) -> None:
    for page_path, needed in (("/docs", ("swagger-ui-bundle.js", "swagger-ui.css")),
                              ("/redoc", ("redoc.standalone.js",))):
        page = client.get(page_path)
        assert page.status_code == 200, page_path
        refs = re.findall(r'(?:src|href)="([^"]*)"', page.text) + re.findall(r"url: *'([^']*)'", page.text)
        assert refs, page_path
        for ref in refs:
            assert ref.startswith("/") and not ref.startswith("//"), f"{page_path} loads {ref} from elsewhere"
        assert "http://" not in page.text and "https://" not in page.text, f"{page_path} names another origin"
        for name in needed:
            assert f"/docs-assets/{name}" in refs
        for ref in refs:
            if ref.startswith("/docs-assets/"):
                asset = client.get(ref)
                assert asset.status_code == 200 and len(asset.content) > 1000, ref
        csp = page.headers["content-security-policy"]
        assert "https:" not in csp and "cdn" not in csp and "googleapis" not in csp
        assert "script-src 'self'" in csp
    assert client.get("/docs/oauth2-redirect").status_code == 200
    assert client.get("/openapi.json").status_code == 200
    assert "/docs-assets" not in client.get("/openapi.json").text
