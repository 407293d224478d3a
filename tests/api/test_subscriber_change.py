"""Changing what a digest subscriber receives, over HTTP."""

from __future__ import annotations

from tests.api.conftest import Api


def subscribe(api: Api) -> str:
    created = api.client.post("/subscribers", json={"email": "ana@example.org", "name": "Ana"},
                              headers=api.auth("editor"))
    assert created.status_code == 201, created.text
    return created.json()["id"]


def test_filters_and_quiet_weeks_change_with_one_event(api: Api) -> None:
    subscriber_id = subscribe(api)
    head = api.head()
    changed = api.client.patch(f"/subscribers/{subscriber_id}", headers=api.auth("editor"), json={
        "filters": {"actors": ["Putin"], "kinds": ["prediction"]}, "quiet_weeks": "skip",
    })
    assert changed.status_code == 200, changed.text
    body = changed.json()
    assert body["filters"]["actors"] == ["Putin"] and body["filters"]["kinds"] == ["prediction"]
    assert (body["quiet_weeks"], body["name"]) == ("skip", "Ana")
    events = list(api.store.read_all(head))
    assert [e.event_type for e in events] == ["SubscriberChanged"]
    assert set(events[0].payload["changes"]) == {"filters", "quiet_weeks"}
    # the same change again is no change: nothing appended
    again = api.client.patch(f"/subscribers/{subscriber_id}", headers=api.auth("editor"),
                             json={"quiet_weeks": "skip"})
    assert again.status_code == 200 and api.head() == head + 1


def test_refusals_write_nothing(api: Api) -> None:
    subscriber_id = subscribe(api)
    head = api.head()
    assert api.client.patch("/subscribers/nobody", json={"name": "X"}, headers=api.auth("editor")).status_code == 404
    assert api.client.patch(f"/subscribers/{subscriber_id}", json={"name": "X"},
                            headers=api.auth("reader")).status_code == 403
    bad = api.client.patch(f"/subscribers/{subscriber_id}", json={"name": "a\r\nBcc: x@evil.org"},
                           headers=api.auth("editor"))
    assert bad.status_code in (409, 422)
    assert bad.headers["content-type"].startswith("application/problem+json")
    assert api.client.patch(f"/subscribers/{subscriber_id}", json={"colour": "red"},
                            headers=api.auth("editor")).status_code == 422
    assert api.head() == head
    api.client.delete(f"/subscribers/{subscriber_id}", headers=api.auth("editor"))
    gone = api.client.patch(f"/subscribers/{subscriber_id}", json={"name": "Y"}, headers=api.auth("editor"))
    assert gone.status_code == 409


def test_a_name_with_an_encoded_line_break_is_422_and_writes_nothing(api: Api) -> None:
    """CVE-2024-6923: an RFC 2047 encoded CR/LF would become real header lines in the next digest."""
    subscriber_id = subscribe(api)
    head = api.head()
    for name in ("=?utf-8?q?Bob=0D=0ABcc:=20attacker@evil.example=0D=0A=0D=0AYour account is locked?=",
                 "=?utf-8?b?Qm9iDQpCY2M6IGF0dGFja2VyQGV2aWwuZXhhbXBsZQ==?=", "=?utf-8?q?Bob?=", "Bob\u2028Bcc: x"):
        bad = api.client.patch(f"/subscribers/{subscriber_id}", json={"name": name}, headers=api.auth("editor"))
        assert bad.status_code == 422, bad.text
        assert bad.headers["content-type"].startswith("application/problem+json")
        assert "name must not contain" in bad.json()["detail"]
        added = api.client.post("/subscribers", json={"email": "eve@example.org", "name": name},
                                headers=api.auth("editor"))
        assert added.status_code == 422 and "name must not contain" in added.json()["detail"]
    assert api.head() == head
    listed = api.client.get("/subscribers", headers=api.auth("editor")).json()
    assert [s["name"] for s in listed] == ["Ana"]


def test_the_editor_flag_is_set_on_add_and_change_as_events(api: Api) -> None:
    subscriber_id = subscribe(api)
    listed = api.client.get("/subscribers", headers=api.auth("editor")).json()
    assert [s["editor"] for s in listed] == [False], "default: a reader"
    head = api.head()
    changed = api.client.patch(f"/subscribers/{subscriber_id}", json={"editor": True}, headers=api.auth("editor"))
    assert changed.status_code == 200 and changed.json()["editor"] is True
    events = list(api.store.read_all(head))
    assert [(e.event_type, e.payload["changes"]) for e in events] == [("SubscriberChanged", {"editor": True})]
    assert api.client.patch(f"/subscribers/{subscriber_id}", json={"editor": "yes"},
                            headers=api.auth("editor")).status_code == 422
    added = api.client.post("/subscribers", json={"email": "ed@example.org", "editor": True},
                            headers=api.auth("editor"))
    assert added.status_code == 201 and added.json()["editor"] is True
    (event,) = [e for e in api.store.read_all(head) if e.event_type == "SubscriberAdded"]
    assert event.payload["editor"] is True


def test_subscriber_events_from_before_the_flag_mean_not_an_editor() -> None:
    from tracker.domain.events import Event
    from tracker.domain.subscriber import evolve

    old = evolve(None, Event("SubscriberAdded", {
        "subscriber_id": "s1", "email": "old@example.org", "name": "Old", "filters": {}, "quiet_weeks": "note"}))
    assert old.editor is False
    assert evolve(old, Event("SubscriberChanged", {"subscriber_id": "s1", "changes": {"editor": True}})).editor
