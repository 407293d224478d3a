"""The review pages' sessions (signed cookies, tracker/web/sessions.py) and redirect target, without a server;
then in process, two apps over one database standing in for two workers."""

from __future__ import annotations

import stat
from pathlib import Path
from types import SimpleNamespace

import pytest

from tracker.web import review, sessions

KEY = sessions.session_key(SimpleNamespace(digest_secret="k" * 40, digest_secret_file="/nonexistent"))
HASH = "ab" * 32


def test_a_cookie_reads_back_until_its_expiry() -> None:
    cookie, session = sessions.issue(KEY, HASH, now=1_000_000)
    assert session.expires - session.issued == review.SESSION_TTL == 8 * 3600
    assert sessions.read(KEY, cookie, now=1_000_000) == session
    assert sessions.read(KEY, cookie, now=1_000_000 + review.SESSION_TTL - 1) == session
    assert sessions.read(KEY, cookie, now=1_000_000 + review.SESSION_TTL) is None, "expired"
    assert sessions.read(KEY, cookie, now=1_000_000 - sessions.CLOCK_SKEW - 1) is None, "issued in the future"
    assert len(session.id) == 32 and session.csrf not in cookie and session.id in cookie
    assert sessions.read(KEY, None) is None and sessions.read(KEY, "") is None and sessions.read(KEY, "forged") is None


def test_a_second_session_differs_and_the_csrf_field_is_the_sessions_own() -> None:
    first, one = sessions.issue(KEY, HASH, now=1_000_000)
    second, two = sessions.issue(KEY, HASH, now=1_000_000)
    assert first != second and one.id != two.id and one.csrf != two.csrf
    assert one.csrf == sessions.csrf_for(KEY, one.id), "any process derives the same field from the cookie"


def _altered(cookie: str, part: int) -> str:
    """The cookie with the last character of one part changed (to another one its pattern allows)."""
    parts = cookie.split(".")
    parts[part] = parts[part][:-1] + ("1" if parts[part][-1] != "1" else "2")
    return ".".join(parts)


@pytest.mark.parametrize("part", [1, 2, 3, 4, 5], ids=["id", "token hash", "issued", "expires", "mac"])
def test_an_altered_cookie_is_refused(part: int) -> None:
    cookie, _ = sessions.issue(KEY, HASH, now=1_000_000)
    altered = _altered(cookie, part)
    assert altered != cookie and sessions.read(KEY, altered, now=1_000_000) is None


def test_a_longer_life_signed_with_the_right_key_is_still_refused() -> None:
    """Issue and expiry are SESSION_TTL apart in every cookie the server makes; another gap is not one of them."""
    signed = f"v1.{'x' * 32}.{HASH}.1000000.{1_000_000 + 10 * review.SESSION_TTL}"
    forged = f"{signed}.{sessions._mac(KEY, b'cookie', signed)}"
    assert sessions.read(KEY, forged, now=1_000_000 + review.SESSION_TTL + 5) is None


def test_another_key_refuses_the_cookie_and_the_key_is_not_the_digest_secret() -> None:
    cookie, _ = sessions.issue(KEY, HASH, now=1_000_000)
    other = sessions.session_key(SimpleNamespace(digest_secret="j" * 40, digest_secret_file="/nonexistent"))
    assert sessions.read(other, cookie, now=1_000_000) is None
    assert KEY != b"k" * 40 and len(KEY) == 32


def test_without_a_configured_secret_the_key_comes_from_the_secret_file(tmp_path: Path) -> None:
    settings = SimpleNamespace(digest_secret=None, digest_secret_file=str(tmp_path / "keys" / "digest-secret"))
    key = sessions.session_key(settings)
    secret = tmp_path / "keys" / "digest-secret"
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600 and len(secret.read_text().strip()) == 64
    assert sessions.session_key(settings) == key, "the same after a restart, and in every worker"
    from tracker.digest.tokens import load_or_create_secret

    assert load_or_create_secret(None, secret) == secret.read_text().strip().encode(), "the digest reads it too"
    (tmp_path / "short").write_text("abc\n")
    with pytest.raises(ValueError, match="no usable secret"):
        sessions.session_key(SimpleNamespace(digest_secret=None, digest_secret_file=str(tmp_path / "short")))


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


def test_two_apps_over_one_database_share_sessions_like_two_workers(sqlite_url: str, tmp_path: object) -> None:
    """Signed in on one app, the cookie and its CSRF field work on another over the same database and settings (a
    second worker, or the same one restarted); sign-out on either ends it on both; a revoked token ends it."""
    from fastapi.testclient import TestClient

    from tests.api.conftest import make_api, register, suggest
    from tracker.api.app import create_app
    from tracker.service.users import revoke_user

    for api in make_api(sqlite_url, tmp_path):
        register(api.tracker, "p-two")
        suggest(api.tracker, "p-two", "m-two", 0.9)
        first = api.client
        second = TestClient(create_app(api.store, api.client.app.state.settings))
        form = first.get("/review/signin")
        done = first.post("/review/signin", data={"csrf_token": _csrf(form.text), "token": api.tokens["editor"]},
                          follow_redirects=False)
        assert done.status_code == 303
        cookie = first.cookies[review.COOKIE]
        assert api.tokens["editor"] not in cookie, "the cookie carries the token's hash, never the token"
        first.cookies.clear()
        jar = {"cookie": f"{review.COOKIE}={cookie}"}
        page = second.get("/review", headers=jar)
        assert page.status_code == 200 and "m-two" in page.text
        version = page.text.split('name="version" value="')[1].split('"')[0]
        csrf = _csrf(first.get("/review", headers=jar).text)
        assert csrf == _csrf(page.text), "both apps derive the same CSRF field"
        confirmed = second.post("/review/matches/m-two/confirm", headers=jar, follow_redirects=False,
                                data={"csrf_token": csrf, "version": version, "stance": "supports"})
        assert confirmed.status_code == 303
        assert second.post("/review/matches/m-two/reject", headers=jar, data={"csrf_token": "x" * 43},
                           follow_redirects=False).status_code == 403, "a wrong CSRF field is refused"

        tampered = {"cookie": f"{review.COOKIE}={_altered(cookie, 5)}"}
        assert second.get("/review", headers=tampered, follow_redirects=False).status_code == 303, "to sign-in"

        out = first.post("/review/signout", headers=jar, data={"csrf_token": csrf}, follow_redirects=False)
        assert out.status_code == 303
        for app in (first, second):
            again = app.get("/review", headers=jar, follow_redirects=False)
            assert again.status_code == 303 and "/review/signin" in again.headers["location"], "signed out on both"
        assert second.post("/review/signout", headers=jar, data={"csrf_token": csrf},
                           follow_redirects=False).status_code == 303, "signing out twice is harmless"

        form = first.get("/review/signin")
        first.post("/review/signin", data={"csrf_token": _csrf(form.text), "token": api.tokens["editor"]})
        fresh = {"cookie": f"{review.COOKIE}={first.cookies[review.COOKIE]}"}
        first.cookies.clear()
        assert second.get("/review", headers=fresh).status_code == 200
        assert revoke_user(api.store.engine, "editor")
        assert second.get("/review", headers=fresh, follow_redirects=False).status_code == 303, "revoked: ended"


def test_an_expired_cookie_is_refused_by_the_pages(sqlite_url: str, tmp_path: object,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.api.conftest import make_api

    for api in make_api(sqlite_url, tmp_path):
        client = api.client
        form = client.get("/review/signin")
        client.post("/review/signin", data={"csrf_token": _csrf(form.text), "token": api.tokens["editor"]})
        assert client.get("/review", follow_redirects=False).status_code == 200
        later = sessions._now() + review.SESSION_TTL + 1
        monkeypatch.setattr(sessions, "_now", lambda later=later: later)
        ended = client.get("/review", follow_redirects=False)
        assert ended.status_code == 303 and "/review/signin" in ended.headers["location"]
