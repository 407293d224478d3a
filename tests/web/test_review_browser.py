"""The review queue in the browser (/review): sign in with an API token, confirm with the keyboard, reject, bulk
reject, a conflicting change made through the API meanwhile, a reader without buttons, CSRF, revocation and
sign-out. Its own server over its own store (these tests change it; the reader-page tests must not see that).
Screenshots go to artifacts/review/."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from tests.conftest import ROOT
from tests.digest.smtpserver import free_port
from tests.web import seed as seeding
from tests.web.conftest import _env
from tests.web.test_browser import A11Y
from tracker.domain import proposition as p
from tracker.projections.tables import matches
from tracker.repository.unit_of_work import Tracker
from tracker.service.users import add_user, revoke_user
from tracker.store import EventStore
from tracker.store.engine import make_engine
from tracker.store.migrate import upgrade

ARTIFACTS = ROOT / "artifacts" / "review"
# proposition -> how many fresh suggestions it gets; each test works on its own proposition
PLAN = {"filler-000": 2, "filler-001": 3, "filler-002": 2, "filler-003": 1, "filler-004": 1, "filler-005": 1,
        "filler-006": 1}


@dataclass
class ReviewSite:
    base: str
    url: str
    tokens: dict[str, str]
    suggestions: dict[str, list[str]]

    def state(self, match_id: str) -> str:
        engine = make_engine(self.url)
        try:
            with engine.connect() as connection:
                return connection.execute(sa.select(matches.c.state).where(matches.c.match_id == match_id)).scalar_one()
        finally:
            engine.dispose()


def _seed_review(url: str) -> dict[str, list[str]]:
    store = EventStore(make_engine(url))
    tracker = Tracker(store)
    n = 10
    made: dict[str, list[str]] = {}
    for pid, count in PLAN.items():
        for _ in range(count):
            evidence_id = seeding._evidence(tracker, n, f"Review item {n} about deterrence and NATO")
            match_id = p.match_id_for(pid, evidence_id)
            tracker.execute(pid, p.SuggestMatch(match_id, evidence_id, 0.5 + n / 100,
                                                {"terms": [{"term": "deterrence"}], "entities": [{"entity": "NATO"}]},
                                                "contradicts"), actor="system:matcher")
            made.setdefault(pid, []).append(match_id)
            n += 1
    store.engine.dispose()
    return made


@pytest.fixture(scope="module")
def review_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ReviewSite]:
    yield from serve_review_site(tmp_path_factory)


def serve_review_site(tmp_path_factory: pytest.TempPathFactory,
                      more: Callable[[str], dict[str, list[str]]] | None = None) -> Iterator[ReviewSite]:
    """A seeded store, users of each role and `tracker serve` over it (other browser modules start their own);
    `more(url)` adds to the store before the server starts and returns the suggestions it made."""
    tmp = tmp_path_factory.mktemp("review")
    url = f"sqlite:///{tmp / 'tracker.db'}"
    upgrade(url)
    seeding.seed(url, tmp / "audit.pem")
    suggestions = _seed_review(url)
    if more is not None:
        suggestions.update(more(url))
    engine = make_engine(url)
    tokens = {name: add_user(engine, name, role) for name, role in
              (("ed", "editor"), ("ed2", "editor"), ("reader", "reader"), ("gone", "editor"))}
    engine.dispose()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = tmp / "server.log"
    process = subprocess.Popen([sys.executable, "-m", "tracker.cli", "serve", "--no-scheduler", "--port", str(port)],
                               cwd=ROOT, env=_env(tmp, url, base), stdout=log.open("wb"), stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, log.read_text(errors="replace")
            try:
                if httpx.get(base + "/health", timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, log.read_text(errors="replace")
            time.sleep(0.2)
        yield ReviewSite(base, url, tokens, suggestions)
    finally:
        process.terminate()
        process.wait(timeout=20)


@contextmanager
def _client(site: ReviewSite, who: str) -> Iterator[httpx.Client]:
    """An httpx client signed in through the form, as a browser without JavaScript would."""
    with httpx.Client(base_url=site.base, timeout=10) as client:
        form = client.get("/review/signin")
        done = client.post("/review/signin", data={"csrf_token": _csrf(form.text), "token": site.tokens[who],
                                                   "next": "/review"})
        assert done.status_code == 303, done.text
        yield client


def _csrf(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)  # type: ignore[union-attr]


def _sign_in(page: Any, site: ReviewSite, who: str, path: str = "/review") -> None:
    page.goto(site.base + path)
    assert "/review/signin" in page.url
    assert page.evaluate(A11Y) == []
    page.get_by_label("API token").fill(site.tokens[who])
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(lambda url: "/review" in url and "/review/signin" not in url)


def _shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def test_signin_sets_a_strict_session_cookie_and_the_page_policy(review_site: ReviewSite) -> None:
    with httpx.Client(base_url=review_site.base, timeout=10) as client:
        first = client.get("/review")
        assert first.status_code == 303 and first.headers["location"].startswith("/review/signin")
        form = client.get("/review/signin")
        assert '<label for="token">' in form.text and 'name="token"' in form.text
        bad = client.post("/review/signin", data={"csrf_token": _csrf(form.text), "token": "pt_nope"})
        assert bad.status_code == 401
        no_csrf = client.post("/review/signin", data={"token": review_site.tokens["ed"]})
        assert no_csrf.status_code == 403
        done = client.post("/review/signin", data={"csrf_token": _csrf(form.text), "token": review_site.tokens["ed"],
                                                   "next": "https://evil.example/"})
        assert done.status_code == 303 and done.headers["location"] == "/review"
        cookie = next(v for k, v in done.headers.multi_items() if k == "set-cookie" and v.startswith("tracker_review="))
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")
        queue = client.get("/review")
        assert queue.status_code == 200 and "Review queue" in queue.text
        csp = queue.headers["content-security-policy"]
        assert "script-src 'self';" in csp and "form-action 'self'" in csp and "unsafe-inline" not in csp
        assert "<script>" not in queue.text and queue.headers["cache-control"] == "no-store"


def test_confirm_with_the_keyboard_then_reject(review_site: ReviewSite, page: Any) -> None:
    first, second = review_site.suggestions["filler-000"]
    _sign_in(page, review_site, "ed", "/review?proposition=filler-000")
    assert page.locator("li.suggestion").count() == 2
    assert "Filler proposition number 0" in page.inner_text("main") and "Score " in page.inner_text("main")
    assert "shared terms: deterrence" in page.inner_text("main")
    assert page.evaluate(A11Y) == []
    _shot(page, "queue")
    page.keyboard.press("j")
    top = page.locator("li.suggestion").first.get_attribute("data-match")
    page.keyboard.press("s")  # confirm as supports
    page.wait_for_selector("text=Confirmed.")
    assert review_site.state(top) == "confirmed"
    other = second if top == first else first
    page.get_by_label("Reason").first.fill("not about this")
    page.get_by_role("button", name="Reject", exact=True).click()
    page.wait_for_selector("text=Rejected.")
    assert review_site.state(other) == "rejected"
    assert page.locator("li.suggestion").count() == 0
    _shot(page, "after-decisions")


def test_bulk_reject_of_a_selection(review_site: ReviewSite, page: Any) -> None:
    ids = review_site.suggestions["filler-001"]
    _sign_in(page, review_site, "ed", "/review?proposition=filler-001")
    boxes = page.get_by_label("Select for bulk rejection")
    assert boxes.count() == 3
    boxes.nth(0).check()
    boxes.nth(1).check()
    kept = page.locator("li.suggestion").nth(2).get_attribute("data-match")
    page.get_by_label("Reason", exact=True).last.fill("off topic")
    page.get_by_role("button", name="Reject selected").click()
    page.wait_for_selector("text=The selected suggestions were rejected.")
    assert [review_site.state(m) for m in ids if m != kept] == ["rejected", "rejected"]
    assert review_site.state(kept) == "suggested"
    _shot(page, "bulk")


def test_a_change_through_the_api_meanwhile_is_shown_and_nothing_applied(review_site: ReviewSite, page: Any) -> None:
    a, b = review_site.suggestions["filler-002"]
    _sign_in(page, review_site, "ed", "/review?proposition=filler-002")
    changed = httpx.post(f"{review_site.base}/matches/{b}/confirm", json={"stance": "context"}, timeout=10,
                         headers={"Authorization": f"Bearer {review_site.tokens['ed2']}"})
    assert changed.status_code == 200, changed.text
    page.locator(f"li[data-match='{a}'] button", has_text="Reject").click()
    page.wait_for_selector("#conflict")
    assert "Another editor changed this proposition" in page.inner_text("#conflict")
    assert review_site.state(a) == "suggested"
    assert page.locator(f"li[data-match='{b}']").count() == 0  # the fresh state: b is no longer a suggestion
    assert page.locator(f"li[data-match='{a}']").count() == 1
    _shot(page, "conflict")


def test_a_double_submit_applies_once(review_site: ReviewSite) -> None:
    (match_id,) = review_site.suggestions["filler-003"]
    with _client(review_site, "ed") as client:
        html = client.get("/review?proposition=filler-003").text
        version = re.search(r'name="version" value="(\d+)"', html).group(1)  # type: ignore[union-attr]
        form = {"csrf_token": _csrf(html), "version": version, "reason": "dup", "proposition": "filler-003"}
        assert client.post(f"/review/matches/{match_id}/reject", data=form).status_code == 303
        again = client.post(f"/review/matches/{match_id}/reject", data=form)
        assert again.status_code == 409 and "nothing was applied" in again.text.lower()
    assert review_site.state(match_id) == "rejected"


def test_a_forged_post_without_csrf_is_refused(review_site: ReviewSite) -> None:
    (match_id,) = review_site.suggestions["filler-004"]
    with _client(review_site, "ed") as client:
        html = client.get("/review?proposition=filler-004").text
        version = re.search(r'name="version" value="(\d+)"', html).group(1)  # type: ignore[union-attr]
        forged = client.post(f"/review/matches/{match_id}/confirm", data={"stance": "supports", "version": version})
        assert forged.status_code == 403
        wrong = client.post(f"/review/matches/{match_id}/confirm",
                            data={"stance": "supports", "version": version, "csrf_token": "x" * 43})
        assert wrong.status_code == 403
    assert review_site.state(match_id) == "suggested"


def test_a_reader_sees_no_buttons_and_cannot_post(review_site: ReviewSite, page: Any) -> None:
    (match_id,) = review_site.suggestions["filler-005"]
    _sign_in(page, review_site, "reader", "/review?proposition=filler-005")
    assert page.locator("li.suggestion").count() == 1
    assert page.get_by_role("button", name="Confirm").count() == 0
    assert page.get_by_role("button", name="Reject").count() == 0
    _shot(page, "reader")
    with _client(review_site, "reader") as client:
        html = client.get("/review").text
        refused = client.post(f"/review/matches/{match_id}/confirm", data={"csrf_token": _csrf(html),
                                                                           "stance": "supports"})
        assert refused.status_code == 403
    assert review_site.state(match_id) == "suggested"


def test_revoking_the_token_ends_the_session_and_sign_out(review_site: ReviewSite, page: Any) -> None:
    with _client(review_site, "gone") as client:
        assert client.get("/review").status_code == 200
        engine = make_engine(review_site.url)
        try:
            assert revoke_user(engine, "gone")
        finally:
            engine.dispose()
        assert client.get("/review").status_code == 303
    _sign_in(page, review_site, "ed")
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(re.compile(r"/review/signin"))
    page.goto(review_site.base + "/review")
    assert "/review/signin" in page.url


def test_artifacts_dir_is_ignored() -> None:
    assert subprocess.run(["git", "check-ignore", "-q", str(ARTIFACTS / "queue.png")], cwd=ROOT).returncode == 0
    assert Path(ARTIFACTS).parent.name == "artifacts"


def test_belongs_to_another_proposition(review_site: ReviewSite, page: Any) -> None:
    (match_id,) = review_site.suggestions["filler-006"]
    _sign_in(page, review_site, "ed", "/review?proposition=filler-006")
    page.get_by_label("Belongs to proposition").fill("filler-007")
    page.get_by_label("Stance there").select_option("supports")
    page.get_by_role("button", name="Move").click()
    page.wait_for_selector("text=Rejected here and attached to the other proposition.")
    assert review_site.state(match_id) == "rejected"
    engine = make_engine(review_site.url)
    try:
        with engine.connect() as connection:
            moved = connection.execute(sa.select(matches.c.state, matches.c.stance)
                                       .where(matches.c.proposition_id == "filler-007")).all()
    finally:
        engine.dispose()
    assert [tuple(r) for r in moved] == [("confirmed", "supports")]
