"""A proposition's editor view in a real browser: open it from the queue, confirm and resolve, edit the match
profile, mute, a reader's view, a change through the API meanwhile. Its own server over its own store (the
same seeding and server as test_review_browser, started again for this module). Screenshots go to artifacts/review/."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.web.test_browser import A11Y
from tests.web.test_review_browser import ReviewSite, _shot, _sign_in, serve_review_site
from tracker.domain import proposition as p
from tracker.domain.evidence import IngestEvidence
from tracker.repository.unit_of_work import Tracker, evidence_stream
from tracker.store import EventStore
from tracker.store.engine import make_engine
from tracker.web.review import PAGE_SIZE

PAGED = "filler-030"  # more suggestions than one page of the queue holds


def _many(url: str) -> dict[str, list[str]]:
    store = EventStore(make_engine(url))
    tracker = Tracker(store)
    made = []
    for n in range(PAGE_SIZE + 5):
        evidence_id = f"ev-paged-{n}"
        with tracker.unit_of_work(actor="system:ingest") as uow:
            uow.execute(evidence_stream(evidence_id), IngestEvidence(
                evidence_id=evidence_id, title=f"Paged item {n} on deterrence", link=f"https://news.example.org/p{n}",
                summary="", published_at="2025-05-01T08:00:00.000000Z", published_is_fetch_time=False,
                feed="sample-wire", guid=evidence_id, language="en", content_hash=f"{n + 1000:064x}"))
        match_id = p.match_id_for(PAGED, evidence_id)
        tracker.execute(PAGED, p.SuggestMatch(match_id, evidence_id, 0.4 + n / 1000, {"terms": ["deterrence"]},
                                              "supports"), actor="system:matcher")
        made.append(match_id)
    store.engine.dispose()
    return {PAGED: made[::-1]}  # best first


@pytest.fixture(scope="module")
def review_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ReviewSite]:
    yield from serve_review_site(tmp_path_factory, _many)


def _detail(site: ReviewSite, pid: str) -> dict[str, Any]:
    found = httpx.get(f"{site.base}/propositions/{pid}", timeout=10,
                      headers={"Authorization": f"Bearer {site.tokens['ed2']}"})
    assert found.status_code == 200, found.text
    return found.json()  # type: ignore[no-any-return]


def test_open_a_proposition_from_the_queue_confirm_and_resolve_it(review_site: ReviewSite, page: Any) -> None:
    (match_id,) = review_site.suggestions["filler-005"]
    _sign_in(page, review_site, "ed", "/review?proposition=filler-005")
    suggestion = page.locator(f"li[data-match='{match_id}']")
    suggestion.get_by_role("link", name="filler-005").click()
    page.wait_for_url(re.compile(r"/review/propositions/filler-005$"))
    page.get_by_role("link", name="1 suggestion awaiting review").click()
    page.wait_for_url(re.compile(r"/review\?proposition=filler-005$"))
    suggestion.get_by_label("Stance", exact=True).select_option("supports")
    suggestion.get_by_role("button", name="Confirm").click()
    page.wait_for_selector("text=Confirmed.")
    page.goto(review_site.base + "/review/propositions/filler-005")
    assert page.get_by_role("heading", level=1).inner_text() == "Filler proposition number 5 about deterrence."
    assert page.evaluate(A11Y) == []
    assert "Status: Supported" in page.inner_text("#status-heading")
    evidence = page.locator("ul.confirmed li")
    assert evidence.count() == 1 and "Supports it" in evidence.inner_text()
    history = page.locator("ol.history li")
    assert "Status Open → Supported" in history.nth(0).inner_text() and "user:ed" in history.nth(0).inner_text()
    assert "Registered" in history.last.inner_text()
    _shot(page, "proposition")
    page.get_by_label("Outcome").select_option("refuted")
    page.get_by_label("Note").fill("the summit communiqué said otherwise")
    page.locator("#resolve-form").get_by_role("checkbox").first.check()
    page.get_by_role("button", name="Resolve").click()
    page.wait_for_selector("text=Resolved.")
    assert "Status: Refuted" in page.inner_text("#status-heading")
    assert page.get_by_role("button", name="Reopen").count() == 1
    assert page.get_by_role("button", name="Resolve").count() == 0
    assert page.evaluate(A11Y) == []
    _shot(page, "proposition-resolved")
    detail = _detail(review_site, "filler-005")
    assert detail["status"] == "refuted" and detail["resolution"]["note"] == "the summit communiqué said otherwise"
    assert len(detail["resolution"]["evidence_ids"]) == 1


def test_edit_the_match_profile(review_site: ReviewSite, page: Any) -> None:
    _sign_in(page, review_site, "ed")
    page.get_by_role("link", name="Propositions").click()
    page.wait_for_url(re.compile(r"/review/propositions$"))
    assert page.evaluate(A11Y) == []
    _shot(page, "propositions")
    page.get_by_role("link", name="Filler proposition number 10 about deterrence.").click()
    page.wait_for_url(re.compile(r"/review/propositions/filler-010$"))
    page.get_by_label("Terms, one a line").fill("deterrence\nNATO summit\nforward defence")
    page.get_by_label("Exclusions, one a line").fill("football")
    page.get_by_label("Reason for the change").fill("the summit wording")
    page.get_by_role("button", name="Save profile").click()
    page.wait_for_selector("text=Match profile saved")
    assert page.get_by_label("Terms, one a line").input_value() == "deterrence\nNATO summit\nforward defence"
    assert "Amended: match profile" in page.locator("ol.history li").first.inner_text()
    _shot(page, "proposition-profile")
    profile = _detail(review_site, "filler-010")["match_profile"]
    assert profile["terms"] == ["deterrence", "NATO summit", "forward defence"]
    assert profile["exclusions"] == ["football"]


def test_mute_matching_then_a_bad_input_is_explained(review_site: ReviewSite, page: Any) -> None:
    _sign_in(page, review_site, "ed", "/review/propositions/filler-011")
    page.wait_for_url(re.compile(r"/review/propositions/filler-011$"))
    page.get_by_label("Reason for muting").fill("only sport stories")
    page.get_by_role("button", name="Mute matching").click()
    page.wait_for_selector("text=Matching muted:")
    assert page.get_by_role("button", name="Unmute matching").count() == 1
    assert _detail(review_site, "filler-011")["muted"] is True
    _shot(page, "proposition-muted")
    page.get_by_label("Terms, one a line").fill("fine\n" + "x" * 201)
    page.get_by_role("button", name="Save profile").click()
    page.wait_for_selector("#error")
    assert "Terms, line 2: String should have at most 200 characters" in page.inner_text("#error")
    assert page.get_by_label("Terms, one a line").input_value().startswith("fine\nxxx")
    assert _detail(review_site, "filler-011")["match_profile"] is None
    _shot(page, "proposition-bad-input")


def test_a_change_through_the_api_meanwhile_applies_nothing(review_site: ReviewSite, page: Any) -> None:
    _sign_in(page, review_site, "ed", "/review/propositions/filler-012")
    page.wait_for_url(re.compile(r"/review/propositions/filler-012$"))
    changed = httpx.post(f"{review_site.base}/propositions/filler-012/mute", json={"reason": "by ed2"}, timeout=10,
                         headers={"Authorization": f"Bearer {review_site.tokens['ed2']}"})
    assert changed.status_code == 200, changed.text
    page.get_by_label("Reason for withdrawing").fill("duplicate")
    page.get_by_role("button", name="Withdraw").click()
    page.wait_for_selector("#conflict")
    assert "changed after you loaded the page" in page.inner_text("#conflict")
    assert "Muted" in page.inner_text("main") and page.get_by_role("button", name="Unmute matching").count() == 1
    assert _detail(review_site, "filler-012")["status"] == "open"
    _shot(page, "proposition-conflict")


def test_a_reader_sees_the_proposition_without_forms(review_site: ReviewSite, page: Any, phone: Any) -> None:
    _sign_in(page, review_site, "reader", "/review/propositions/energy-halt-breached")
    page.wait_for_url(re.compile(r"/review/propositions/energy-halt-breached$"))
    assert page.locator("form:not(.signout)").count() == 0 and page.locator("textarea").count() == 0
    assert "you can read this page, not change it" in page.inner_text("main")
    assert page.evaluate(A11Y) == []
    _shot(page, "proposition-reader")
    _sign_in(phone, review_site, "ed", "/review/propositions/talks-by-june")
    phone.wait_for_url(re.compile(r"/review/propositions/talks-by-june$"))
    assert phone.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    assert "overdue: the date has passed" in phone.inner_text("main")
    _shot(phone, "proposition-phone")


def test_the_queue_pages_in_the_browser_keeping_its_filter(review_site: ReviewSite, page: Any) -> None:
    best_first = review_site.suggestions[PAGED]
    _sign_in(page, review_site, "ed", f"/review?proposition={PAGED}")
    shown = page.locator("li.suggestion")
    assert shown.count() == PAGE_SIZE and "55 suggestions, best first" in page.inner_text("main")
    assert [shown.nth(i).get_attribute("data-match") for i in (0, PAGE_SIZE - 1)] == [best_first[0],
                                                                                     best_first[PAGE_SIZE - 1]]
    assert page.get_by_role("link", name="Previous page").count() == 0
    page.get_by_role("link", name="Next page").click()
    page.wait_for_selector("text=First page")
    assert f"proposition={PAGED}" in page.url
    assert [shown.nth(i).get_attribute("data-match") for i in range(shown.count())] == best_first[PAGE_SIZE:]
    assert page.get_by_role("link", name="Next page").count() == 0
    assert page.evaluate(A11Y) == []
    _shot(page, "queue-page-2")
    page.keyboard.press("j")
    page.keyboard.press("s")  # confirming on page 2 comes back to page 2
    page.wait_for_selector("text=Confirmed.")
    assert shown.count() == 4 and f"proposition={PAGED}" in page.url
    page.get_by_role("link", name="Previous page").click()
    page.wait_for_url(re.compile(r"before="))
    assert shown.count() == PAGE_SIZE and shown.first.get_attribute("data-match") == best_first[0]
