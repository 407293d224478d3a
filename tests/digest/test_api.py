"""The digest over HTTP: subscribers (editor), unsubscribe by signed link (no token), preview and send."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.digest.conftest import make_settings, subscribe, this_week
from tests.digest.smtpserver import SmtpServer
from tracker.api.app import create_app
from tracker.config import Settings
from tracker.digest.service import unsubscribe_url
from tracker.repository.unit_of_work import Tracker, subscriber_stream
from tracker.service.users import add_user
from tracker.store import EventStore


@pytest.fixture
def client(store: EventStore, settings: Settings) -> Iterator[TestClient]:
    token = add_user(store.engine, "ed", "editor")
    reader = add_user(store.engine, "rd", "reader")
    with TestClient(create_app(store, settings)) as test_client:
        test_client.headers["Authorization"] = f"Bearer {token}"
        test_client.reader = reader  # type: ignore[attr-defined]
        yield test_client


def test_add_and_list_subscribers(client: TestClient, tracker: Tracker) -> None:
    created = client.post("/subscribers", json={
        "email": "Ann@Example.org", "name": "Ann", "filters": {"actors": ["Atlantis"], "kinds": ["prediction"]},
        "quiet_weeks": "skip",
    })
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["email"] == "Ann@example.org" and body["filters"]["actors"] == ["Atlantis"] and body["active"]
    events = tracker.store.read_stream(subscriber_stream(body["id"]))
    assert [e.event_type for e in events] == ["SubscriberAdded"] and events[0].actor == "user:ed"
    assert client.post("/subscribers", json={"email": "ann@example.org"}).status_code == 409
    listed = client.get("/subscribers").json()
    assert [s["email"] for s in listed] == ["Ann@example.org"]
    assert client.delete(f"/subscribers/{body['id']}").json()["active"] is False
    assert client.get("/subscribers").json() == []
    assert len(client.get("/subscribers", params={"include_removed": True}).json()) == 1
    assert client.delete("/subscribers/0123456789abcdef").status_code == 404


@pytest.mark.parametrize("email", ["a@example.org\r\nBcc: b@example.org", "Ann <a@example.org>", "nobody", ""])
def test_bad_addresses_are_422_and_write_nothing(client: TestClient, store: EventStore, email: str) -> None:
    head = store.head()
    response = client.post("/subscribers", json={"email": email})
    assert response.status_code == 422 and response.headers["content-type"] == "application/problem+json"
    assert store.head() == head


def test_subscribers_need_the_editor_role(client: TestClient) -> None:
    reader = {"Authorization": f"Bearer {client.reader}"}  # type: ignore[attr-defined]
    assert client.get("/subscribers", headers=reader).status_code == 403
    assert client.post("/digests/send", headers=reader).status_code == 403
    assert client.get("/subscribers", headers={"Authorization": ""}).status_code == 401


def test_unsubscribe_by_link_is_idempotent_and_needs_no_token(
    client: TestClient, tracker: Tracker, settings: Settings, smtp: SmtpServer
) -> None:
    sid = subscribe(tracker, "ann@example.org")
    sent = client.post("/digests/send", params={"week": this_week().label})
    assert sent.status_code == 200 and sent.json()["sent"] == ["ann@example.org"]
    (message,) = smtp.recorder.messages()
    link = message["List-Unsubscribe"].strip("<>")
    assert link.startswith("https://tracker.example/unsubscribe?token=")
    path = link.removeprefix("https://tracker.example")
    anonymous = {"Authorization": ""}
    browser = {**anonymous, "Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
    head = tracker.store.head()
    page = client.get(path, headers=browser)  # what a link scanner or a preview does too
    assert page.status_code == 200 and "ann@example.org" in page.text and '<form method="post"' in page.text
    assert tracker.store.head() == head, "opening the link changes nothing"
    done = client.post(path, headers=browser)  # the page's button
    assert done.status_code == 200 and "ann@example.org will no longer receive" in done.text
    assert message["Message-ID"] == f"<digest-{this_week().label}-{sid}@policy-tracker>"
    stream = tracker.store.read_stream(subscriber_stream(sid))
    assert [e.event_type for e in stream] == ["SubscriberAdded", "SubscriberRemoved"]
    assert stream[-1].payload["via"] == "unsubscribe-link"
    head = tracker.store.head()
    again = client.get(path, headers=browser)
    assert again.status_code == 200 and "Already unsubscribed" in again.text and "<form" not in again.text
    assert client.post(path, headers=anonymous, content="List-Unsubscribe=One-Click").json() == {
        "unsubscribed": True, "changed": False}
    assert tracker.store.head() == head, "a second click records nothing"
    assert client.get("/subscribers").json() == []


def test_one_click_post_unsubscribes(client: TestClient, tracker: Tracker, settings: Settings) -> None:
    from tracker.digest.service import load_subscribers

    sid = subscribe(tracker, "bob@example.org")
    link = unsubscribe_url(settings, load_subscribers(tracker.store)[sid])
    response = client.post(link.removeprefix("https://tracker.example"), headers={"Authorization": ""},
                           data={"List-Unsubscribe": "One-Click"})
    assert response.status_code == 200 and response.json()["changed"] is True
    assert not load_subscribers(tracker.store)[sid].active


@pytest.mark.parametrize("token", ["", "garbage", "0123456789abcdef01234567.1." + "A" * 43, "x" * 150])
def test_a_bad_token_is_400_problem_json(client: TestClient, store: EventStore, token: str) -> None:
    subscribe(Tracker(store), "ann@example.org")
    head = store.head()
    for method in ("GET", "POST"):
        response = client.request(method, "/unsubscribe", params={"token": token}, headers={"Authorization": ""})
        assert response.status_code in (400, 422), response.text
        assert response.headers["content-type"] == "application/problem+json"
    assert store.head() == head


def test_a_token_signed_with_another_secret_is_refused(
    client: TestClient, tracker: Tracker, database_url: str, tmp_path: Path
) -> None:
    from tracker.digest.service import load_subscribers

    sid = subscribe(tracker, "ann@example.org")
    other = make_settings(database_url, None, tmp_path, digest_secret="a-different-secret-0123456789abcdef")
    link = unsubscribe_url(other, load_subscribers(tracker.store)[sid])
    response = client.get(link.removeprefix("https://tracker.example"), headers={"Authorization": ""})
    assert response.status_code == 400 and response.json()["type"].endswith("bad-unsubscribe-token")
    assert load_subscribers(tracker.store)[sid].active


def test_preview_and_status(client: TestClient, tracker: Tracker) -> None:
    subscribe(tracker, "ann@example.org", name="Ann")
    week = this_week().label
    preview = client.get("/digests/preview", params={"week": week})
    assert preview.status_code == 200 and preview.json()["week"] == week and preview.json()["quiet"] is True
    assert "<html" in preview.json()["html"] and "Nothing new this week" in preview.json()["text"]
    as_ann = client.get("/digests/preview", params={"week": week, "subscriber": "ann@example.org", "format": "html"})
    assert as_ann.status_code == 200 and as_ann.headers["content-type"].startswith("text/html")
    assert "Hello Ann," in as_ann.text and "/unsubscribe?token=" in as_ann.text
    assert client.get("/digests/preview", params={"week": "2025-W99"}).status_code == 422
    assert client.get("/digests/preview", params={"subscriber": "nobody@example.org"}).status_code == 404
    assert client.get("/digests/status", params={"week": week}).json()["started"] is False


def test_sending_a_week_that_has_not_ended_is_422_and_records_nothing(
    client: TestClient, tracker: Tracker, smtp: SmtpServer
) -> None:
    from datetime import timedelta

    from tracker.digest.week import IsoWeek
    from tracker.store.envelope import utc_now

    subscribe(tracker, "ann@example.org")
    head = tracker.store.head()
    for day in (utc_now().date(), utc_now().date() + timedelta(days=400)):
        week = IsoWeek.containing(day).label
        response = client.post("/digests/send", params={"week": week})
        assert response.status_code == 422 and response.headers["content-type"] == "application/problem+json"
        assert response.json()["type"].endswith("week-not-ended") and "has not ended" in response.json()["detail"]
    assert tracker.store.head() == head and smtp.recorder.received == []
