"""The review pages' session store and redirect target, without a server."""

from __future__ import annotations

import pytest

from tracker.web import review


def test_a_session_ends_after_its_time(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1000.0]
    monkeypatch.setattr(review.time, "monotonic", lambda: now[0])
    sessions = review.Sessions()
    sid, session = sessions.create("pt_token")
    assert sessions.get(sid) is session and len(sid) >= 40 and session.csrf != sid
    now[0] += review.SESSION_TTL - 1
    assert sessions.get(sid) is session
    now[0] += 2
    assert sessions.get(sid) is None and sid not in sessions.by_id
    assert sessions.get(None) is None and sessions.get("forged") is None


def test_signing_out_ends_the_session() -> None:
    sessions = review.Sessions()
    sid, _ = sessions.create("pt_token")
    sessions.end(sid)
    assert sessions.get(sid) is None


@pytest.mark.parametrize(("given", "expected"), [
    ("/review?feed=x", "/review?feed=x"), ("https://evil.example/review", "/review"), ("//evil.example", "/review"),
    ("/record/", "/review"), (None, "/review"), ("/review\\@evil", "/review"),
])
def test_only_review_pages_are_redirect_targets(given: str | None, expected: str) -> None:
    assert review._safe_next(given) == expected


def test_explanations_in_words() -> None:
    assert review.explanation_in_words('{"summary": "82% likely to be confirmed: NATO"}').startswith("82% likely")
    assert review.explanation_in_words('{"terms": [{"term": "grid"}]}') == "Matched on shared terms: grid."
    assert review.explanation_in_words("not json") == ""


def _csrf(html: str) -> str:
    import re

    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)  # type: ignore[union-attr]


def test_over_https_the_cookie_is_secure_and_a_double_confirm_applies_once(database_url: str, tmp_path: object) -> None:
    """In process, on SQLite and (with TRACKER_TEST_PG_URL) PostgreSQL."""
    from fastapi.testclient import TestClient

    from tests.api.conftest import make_api, register, suggest

    for api in make_api(database_url, tmp_path):
        register(api.tracker, "p-web")
        suggest(api.tracker, "p-web", "m-web", 0.9)
        client = TestClient(api.client.app, base_url="https://tracker.example")
        form = client.get("/review/signin")
        assert "secure" in form.headers["set-cookie"].lower()
        done = client.post("/review/signin", data={"csrf_token": _csrf(form.text), "token": api.tokens["editor"]},
                           follow_redirects=False)
        assert done.status_code == 303 and "secure" in done.headers["set-cookie"].lower()
        queue = client.get("/review")
        version = queue.text.split('name="version" value="')[1].split('"')[0]
        data = {"csrf_token": _csrf(queue.text), "version": version, "stance": "supports"}
        assert client.post("/review/matches/m-web/confirm", data=data, follow_redirects=False).status_code == 303
        head = api.head()
        again = client.post("/review/matches/m-web/confirm", data=data, follow_redirects=False)
        assert again.status_code == 409 and api.head() == head
