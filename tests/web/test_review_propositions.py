"""A proposition's editor view (/review/propositions) and the queue's pages, in process (FastAPI's TestClient):
every route with its CSRF refusal, the reader's 403, the version conflict, and bad input refused with a clear
error and nothing recorded."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.api.conftest import Api, make_api, register, suggest
from tracker.domain import proposition as domain
from tracker.domain.evidence import IngestEvidence
from tracker.repository.unit_of_work import evidence_stream

PID = "p-edit"
POSTS = ("resolve", "withdraw", "reopen", "profile", "mute", "unmute", "window")
VALID = {"resolve": {"outcome": "refuted", "note": "n"}, "withdraw": {"reason": "dup"}, "reopen": {"reason": "r"},
         "profile": {"terms": "grid\nsubstation", "exclusions": "football"}, "mute": {"reason": "noisy"},
         "unmute": {"reason": "back"}, "window": {"not_before": "2025-03-19", "not_after": ""}}


@dataclass
class Site:
    api: Api

    def signed_in(self, role: str) -> TestClient:
        client = TestClient(self.api.client.app)
        form = client.get("/review/signin")
        done = client.post("/review/signin", data={"csrf_token": _csrf(form.text), "token": self.api.tokens[role]},
                           follow_redirects=False)
        assert done.status_code == 303
        return client

    def state(self, pid: str = PID) -> domain.Proposition:
        return self.api.tracker.proposition(pid).state  # type: ignore[no-any-return]


def _csrf(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)  # type: ignore[union-attr]


def _version(html: str, form_id: str) -> str:
    form = html.split(f'id="{form_id}"')[1]
    return re.search(r'name="version" value="(\d+)"', form).group(1)  # type: ignore[union-attr]


def _evidence(api: Api, evidence_id: str, title: str) -> None:
    with api.tracker.unit_of_work(actor="system:ingest") as uow:
        uow.execute(evidence_stream(evidence_id), IngestEvidence(
            evidence_id=evidence_id, title=title, link=f"https://news.example.org/{evidence_id}", summary="s",
            published_at="2025-04-02T08:00:00.000000Z", published_is_fetch_time=False, feed="sample-wire",
            guid=evidence_id, language="en", content_hash="0" * 64))


def _prepare(api: Api) -> None:
    register(api.tracker, PID, "Strikes on substations will resume within a month",
             match_profile={"terms": ["energy"], "exclusions": ["football"], "entities": {"Russia": ["Kremlin"]},
                            "examples": ["kept as it was"]})
    _evidence(api, "ev-a", "Drones hit a substation near Kharkiv")
    suggest(api.tracker, PID, "m-a", 0.9, "ev-a")
    api.tracker.execute(PID, domain.ConfirmMatch("m-a", "supports", "CONFIRM-NOTE"), actor="user:editor")
    suggest(api.tracker, PID, "m-b", 0.6)


@pytest.fixture
def site(sqlite_url: str, tmp_path: object) -> Iterator[Site]:
    for api in make_api(sqlite_url, tmp_path):
        _prepare(api)
        yield Site(api)


@pytest.fixture
def site_any(database_url: str, tmp_path: object) -> Iterator[Site]:
    for api in make_api(database_url, tmp_path):
        _prepare(api)
        yield Site(api)


def _post(client: TestClient, route: str, html: str, at: str = f"/review/propositions/{PID}", **fields: str) -> Any:
    data = {"csrf_token": _csrf(html), **fields}
    return client.post(f"{at}/{route}", data=data, follow_redirects=False)


# ---- reading -----------------------------------------------------------------------------------------------------

def test_the_editor_view_shows_status_evidence_history_and_forms(site: Site) -> None:
    client = site.signed_in("editor")
    page = client.get(f"/review/propositions/{PID}")
    assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
    text = page.text
    assert "<h1>Strikes on substations will resume within a month</h1>" in text
    assert "Status: <span class=\"status status-supported\">Supported</span>" in text
    assert "Drones hit a substation near Kharkiv" in text and "Supports it" in text and "CONFIRM-NOTE" in text
    history = text.split('id="history-heading"')[1]
    # newest first, with who did it
    assert history.index("Status Open → Supported") < history.index("Confirmed “Drones hit a substation") \
        < history.index("Registered")
    assert "user:editor" in history and "system:test" in history
    assert "1 suggestion awaiting review" in text and f'href="/review?proposition={PID}"' in text
    for form in ("resolve-form", "withdraw-form", "profile-form", "mute-form", "window-form"):
        assert f'id="{form}"' in text and _version(text, form) == str(site.api.tracker.proposition(PID).version)
    assert "reopen-form" not in text
    assert ">energy</textarea>" in text and ">football</textarea>" in text
    for label in ("Outcome", "Note", "Terms, one a line", "Exclusions, one a line", "Reason for muting"):
        assert f">{label}</label>" in text


def test_signed_out_it_asks_to_sign_in_and_an_unknown_proposition_is_404(site: Site) -> None:
    anonymous = TestClient(site.api.client.app)
    first = anonymous.get(f"/review/propositions/{PID}", follow_redirects=False)
    assert first.status_code == 303 and first.headers["location"] == (
        f"/review/signin?next=%2Freview%2Fpropositions%2F{PID}")
    assert anonymous.get("/review/propositions", follow_redirects=False).status_code == 303
    head = site.api.head()
    assert anonymous.post(f"/review/propositions/{PID}/withdraw", data={"reason": "x"}).status_code == 403
    client = site.signed_in("editor")
    assert client.get("/review/propositions/no-such-thing").status_code == 404
    html = client.get(f"/review/propositions/{PID}").text
    missing = client.post("/review/propositions/no-such-thing/withdraw",
                          data={"csrf_token": _csrf(html), "version": "1"})
    assert missing.status_code == 404 and site.api.head() == head


def test_a_reader_sees_no_forms_and_every_post_is_refused(site: Site) -> None:
    reader = site.signed_in("reader")
    page = reader.get(f"/review/propositions/{PID}")
    assert page.status_code == 200 and "you can read this page, not change it" in page.text
    assert f'action="/review/propositions/{PID}/' not in page.text and "<textarea" not in page.text
    assert "Terms</dt><dd>energy</dd>" in page.text
    head = site.api.head()
    for route in POSTS:
        refused = _post(reader, route, page.text, version="4", **VALID[route])
        assert refused.status_code == 403 and "editor role" in refused.text, route
    assert site.api.head() == head


@pytest.mark.parametrize("route", POSTS)
def test_every_post_needs_the_csrf_field(site: Site, route: str) -> None:
    client = site.signed_in("editor")
    version = str(site.api.tracker.proposition(PID).version)
    head = site.api.head()
    for forged in ({}, {"csrf_token": "x" * 43}, {"csrf_token": ""}):
        refused = client.post(f"/review/propositions/{PID}/{route}",
                              data={**forged, "version": version, **VALID[route]}, follow_redirects=False)
        assert refused.status_code == 403 and "CSRF" in refused.text
    assert site.api.head() == head


# ---- deciding ----------------------------------------------------------------------------------------------------

def test_resolve_then_reopen_through_the_forms(site: Site) -> None:
    client = site.signed_in("editor")
    html = client.get(f"/review/propositions/{PID}").text
    done = _post(client, "resolve", html, version=_version(html, "resolve-form"), outcome="confirmed",
                 note="wires agree", evidence_ids="ev-a")
    assert done.status_code == 303 and done.headers["location"] == f"/review/propositions/{PID}?done=resolved"
    state = site.state()
    assert state.status == "confirmed" and state.resolution is not None
    assert state.resolution["note"] == "wires agree" and state.resolution["evidence_ids"] == ["ev-a"]
    html = client.get(done.headers["location"]).text
    assert "Resolved." in html and "Brier score" in html and 'id="resolve-form"' not in html
    again = _post(client, "reopen", html, version=_version(html, "reopen-form"), reason="new reporting")
    assert again.status_code == 303 and site.state().status == "supported"
    html = client.get(again.headers["location"]).text
    assert "Reopened (it was Confirmed)" in html and "new reporting" in html


def test_withdraw_records_the_editor(site: Site) -> None:
    client = site.signed_in("editor")
    html = client.get(f"/review/propositions/{PID}").text
    assert _post(client, "withdraw", html, version=_version(html, "withdraw-form"),
                 reason="duplicate").status_code == 303
    history = site.api.tracker.store.read_stream(f"proposition-{PID}")
    withdrawn = [e for e in history if e.event_type == "PropositionWithdrawn"]
    assert [(e.actor, e.payload["reason"]) for e in withdrawn] == [("user:editor", "duplicate")]
    assert withdrawn[0].causation_id == f"web:POST /review/propositions/{PID}/withdraw"


def test_a_change_by_another_editor_meanwhile_applies_nothing_and_shows_the_fresh_state(site_any: Site) -> None:
    site = site_any
    client = site.signed_in("editor")
    html = client.get(f"/review/propositions/{PID}").text
    other = site.api.client.post(f"/propositions/{PID}/withdraw", json={"reason": "by the other editor"},
                                 headers=site.api.auth("editor2"))
    assert other.status_code == 200, other.text
    head = site.api.head()
    stale = _post(client, "resolve", html, version=_version(html, "resolve-form"), outcome="refuted")
    assert stale.status_code == 409 and site.api.head() == head
    assert "changed after you loaded the page" in stale.text and "nothing was applied" in stale.text
    assert 'status status-withdrawn">Withdrawn' in stale.text and 'id="reopen-form"' in stale.text
    assert site.state().status == "withdrawn"


def test_a_double_submit_applies_once(site_any: Site) -> None:
    site = site_any
    client = site.signed_in("editor")
    html = client.get(f"/review/propositions/{PID}").text
    form = {"version": _version(html, "mute-form"), "reason": "too many sport stories"}
    assert _post(client, "mute", html, **form).status_code == 303
    head = site.api.head()
    again = _post(client, "mute", html, **form)
    assert again.status_code == 409 and site.api.head() == head
    muted = [e for e in site.api.tracker.store.read_stream(f"proposition-{PID}") if e.event_type == "MatchingMuted"]
    assert len(muted) == 1


@pytest.mark.parametrize(("route", "fields", "said"), [
    ("resolve", {"outcome": "maybe"}, "Outcome: Input should be 'confirmed', 'refuted' or 'annulled'"),
    ("resolve", {"outcome": ""}, "Outcome: Input should be"),
    ("resolve", {"outcome": "refuted", "note": "bad\x00note"}, "Note: text must not contain NUL"),
    ("resolve", {"outcome": "refuted", "note": "n" * 2001}, "Note: String should have at most 2000 characters"),
    ("resolve", {"outcome": "refuted", "evidence_ids": "ev-unknown"}, "deciding evidence is not confirmed"),
    ("withdraw", {"reason": "r" * 2001}, "Reason: String should have at most 2000 characters"),
    ("profile", {"terms": "ok\n" + "t" * 201}, "Terms, line 2: String should have at most 200 characters"),
    ("profile", {"terms": "\n".join(f"term {i}" for i in range(201))}, "Terms: List should have at most 200"),
    ("profile", {"terms": "energy", "exclusions": "football"}, "the amendment changes nothing"),
    ("profile", {"terms": "a\u202eb"}, "bidirectional"),
    ("reopen", {"reason": "why"}, "only a resolved or withdrawn proposition can be reopened"),
    ("unmute", {}, "matching is not muted"),
    ("mute", {"reason": "x", "version": ""}, "carried no version"),
    ("window", {"not_before": "2025-13-01"}, "Suggest items published from: Input should be a valid date"),
    ("window", {"not_before": "2025-05-01", "not_after": "2025-04-01"}, "the window is empty"),
    ("window", {"not_after": "1850-01-01"}, "Nothing was changed. Suggest items published until: "),
])
def test_bad_input_is_refused_clearly_and_changes_nothing(site: Site, route: str, fields: dict[str, str],
                                                          said: str) -> None:
    client = site.signed_in("editor")
    html = client.get(f"/review/propositions/{PID}").text
    head = site.api.head()
    refused = _post(client, route, html, **{"version": _version(html, "mute-form"), **fields})
    assert refused.status_code in (409, 422), refused.text
    assert said in refused.text.replace("&#39;", "'") and "Nothing was" in refused.text
    assert 'role="alert"' in refused.text and site.api.head() == head


def test_a_refused_profile_keeps_what_the_editor_typed(site: Site) -> None:
    client = site.signed_in("editor")
    html = client.get(f"/review/propositions/{PID}").text
    refused = _post(client, "profile", html, version=_version(html, "profile-form"),
                    terms="grid\n" + "x" * 201, exclusions="cup final", reason="widen")
    assert refused.status_code == 422
    assert ">grid\n" + "x" * 201 + "</textarea>" in refused.text and ">cup final</textarea>" in refused.text
    assert 'value="widen"' in refused.text


def test_the_profile_form_amends_terms_and_exclusions_and_keeps_the_rest(site: Site) -> None:
    client = site.signed_in("editor")
    html = client.get(f"/review/propositions/{PID}").text
    done = _post(client, "profile", html, version=_version(html, "profile-form"),
                 terms="  substation \n\npower grid\nsubstation\n", exclusions="football\ncup final",
                 reason="the wires say substation")
    assert done.status_code == 303 and "done=profile" in done.headers["location"]
    profile = site.state().match_profile
    assert profile == {"terms": ["substation", "power grid"], "exclusions": ["football", "cup final"],
                       "entities": {"Russia": ["Kremlin"]}, "examples": ["kept as it was"]}
    amended = site.api.tracker.store.read_stream(f"proposition-{PID}")[-1]
    assert amended.event_type == "PropositionAmended" and amended.payload["reason"] == "the wires say substation"
    page = client.get(done.headers["location"]).text
    assert "Match profile saved. Recent evidence was scored against it again." in page
    assert ">substation\npower grid</textarea>" in page
    assert "Amended: match profile" in page


def test_mute_then_unmute(site: Site) -> None:
    client = site.signed_in("editor")
    html = client.get(f"/review/propositions/{PID}").text
    assert "Mute matching</button>" in html
    assert _post(client, "mute", html, version=_version(html, "mute-form"), reason="noisy").status_code == 303
    assert site.state().muted and site.state().muted_reason == "noisy"
    html = client.get(f"/review/propositions/{PID}?done=muted").text
    assert "Matching muted" in html and "Unmute matching</button>" in html and "(“noisy”)" in html
    assert f'action="/review/propositions/{PID}/unmute"' in html
    done = _post(client, "unmute", html, version=_version(html, "mute-form"))
    assert done.status_code == 303 and done.headers["location"].endswith("done=unmuted")
    assert not site.state().muted


# ---- the list and the queue's pages ------------------------------------------------------------------------------

def test_the_list_links_each_proposition_and_pages(site: Site) -> None:
    for i in range(55):
        register(site.api.tracker, f"q-{i:03d}", f"Filler statement {i}")
    client = site.signed_in("reader")
    first = client.get("/review/propositions")
    assert first.status_code == 200 and first.text.count('<li class="item">') == 50
    assert f'href="/review/propositions/{PID}"' in first.text
    following = re.search(r'href="([^"]+)" rel="next"', first.text).group(1)  # type: ignore[union-attr]
    second = client.get(following.replace("&amp;", "&"))
    assert second.text.count('<li class="item">') == 6 and 'rel="next"' not in second.text
    assert "First page" in second.text
    supported = client.get("/review/propositions?status=supported")
    assert supported.text.count('<li class="item">') == 1 and PID in supported.text
    assert client.get("/review/propositions?q=Filler+statement+7").text.count('<li class="item">') == 1
    bad = client.get("/review/propositions?after=not-a-cursor")
    assert bad.status_code == 200 and "not valid" in bad.text and bad.text.count('<li class="item">') == 50


def _pages(client: TestClient, path: str) -> Iterator[tuple[list[str], str]]:
    while path:
        html = client.get(path).text
        yield re.findall(r'data-match="([^"]+)"', html), html
        found = re.search(r'href="([^"]+)" rel="next"', html)
        path = found.group(1).replace("&amp;", "&") if found else ""


def test_the_queue_pages_beyond_fifty_keeping_its_filters(site: Site) -> None:
    register(site.api.tracker, "p-many")
    for i in range(120):
        suggest(site.api.tracker, "p-many", f"m-many-{i:03d}", 0.3 + i / 1000)
    client = site.signed_in("editor")
    pages = list(_pages(client, "/review?proposition=p-many"))
    assert [len(ids) for ids, _ in pages] == [50, 50, 20]
    seen = [m for ids, _ in pages for m in ids]
    assert seen == [f"m-many-{i:03d}" for i in range(119, -1, -1)]  # best first, none twice, none lost
    first_html = pages[0][1]
    assert "120 suggestions, best first" in first_html and "This page shows 50 of them." in first_html
    assert 'rel="prev"' not in first_html
    last_html = pages[2][1]
    assert "proposition=p-many" in re.search(r'href="([^"]+)" rel="prev"', last_html).group(1)  # type: ignore[union-attr]
    back = re.search(r'href="([^"]+)" rel="prev"', last_html).group(1).replace("&amp;", "&")  # type: ignore[union-attr]
    assert re.findall(r'data-match="([^"]+)"', client.get(back).text) == pages[1][0]
    # deciding on the second page comes back to the second page, without the item decided
    second_path = re.search(r'href="([^"]+)" rel="next"', first_html).group(1).replace("&amp;", "&")  # type: ignore[union-attr]
    second = client.get(second_path).text
    decided = pages[1][0][0]
    form = second.split(f'action="/review/matches/{decided}/reject"')[1].split("</form>")[0]
    hidden = dict(re.findall(r'name="([^"]+)" value="([^"]*)"', form))
    assert hidden["proposition"] == "p-many" and "after" in hidden
    done = client.post(f"/review/matches/{decided}/reject", data={**hidden, "reason": "r"}, follow_redirects=False)
    assert done.status_code == 303
    after = re.findall(r'data-match="([^"]+)"', client.get(done.headers["location"]).text)
    assert after == pages[1][0][1:] + pages[2][0][:1]
    bad = client.get("/review?proposition=p-many&after=bm90LWEtY3Vyc29y")
    assert "not valid" in bad.text and re.findall(r'data-match="([^"]+)"', bad.text) == pages[0][0]


def test_the_queue_links_each_suggestion_to_its_editor_view(site: Site) -> None:
    client = site.signed_in("editor")
    html = client.get("/review").text
    assert f'<a href="/review/propositions/{PID}">{PID}</a>' in html
    assert '<a href="/review/propositions">Propositions</a>' in html


def test_a_long_queue_is_counted_only_up_to_the_cap(site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    from tracker.web import review

    monkeypatch.setattr(review, "COUNT_CAP", 3)
    register(site.api.tracker, "p-four")
    for i in range(4):
        suggest(site.api.tracker, "p-four", f"m-four-{i}", 0.5)
    html = site.signed_in("reader").get("/review?proposition=p-four").text
    assert "More than 3 suggestions, best first" in html and html.count('data-match="') == 4
    assert "1 suggestion, best first" in site.signed_in("reader").get(f"/review?proposition={PID}").text


def test_the_evidence_window_form(site: Site) -> None:
    client = site.signed_in("editor")
    html = client.get(f"/review/propositions/{PID}").text
    assert "Evidence window: none" in html
    done = _post(client, "window", html, version=_version(html, "window-form"), not_before="2025-03-19",
                 not_after="", reason="after the call")
    assert done.status_code == 303 and done.headers["location"].endswith("done=window")
    state = site.state()
    assert (state.window_not_before, state.window_not_after) == ("2025-03-19", None)
    html = client.get(done.headers["location"]).text
    assert "Evidence window saved" in html and 'value="2025-03-19"' in html
    assert "items published from 19 March 2025 to any date" in html
    cleared = _post(client, "window", html, version=_version(html, "window-form"), not_before="", not_after="")
    assert cleared.status_code == 303 and site.state().window_not_before is None


def test_an_id_that_needs_quoting_stays_one_path_segment(site: Site) -> None:
    register(site.api.tracker, "odd id?x=1#y")
    client = site.signed_in("editor")
    path = "/review/propositions/odd%20id%3Fx%3D1%23y"
    html = client.get(path).text
    assert f'action="{path}/withdraw"' in html and 'href="/record/propositions/odd%20id%3Fx%3D1%23y"' in html
    done = _post(client, "withdraw", html, at=path, version=_version(html, "withdraw-form"))
    assert done.status_code == 303 and done.headers["location"] == f"{path}?done=withdrawn"
    assert site.state("odd id?x=1#y").status == "withdrawn"


def test_a_failed_rescoring_after_saving_is_said_and_the_change_kept(site: Site) -> None:
    from dataclasses import replace
    from types import SimpleNamespace

    from tracker.service import propositions

    def broken(*_: object) -> Any:
        def run() -> None:
            raise RuntimeError("matcher down")
        return run

    app = site.api.client.app
    app.state.review_wiring = replace(app.state.review_wiring,
                                      propositions=SimpleNamespace(act=propositions.act, backfill_later=broken))
    client = site.signed_in("editor")
    html = client.get(f"/review/propositions/{PID}").text
    done = _post(client, "profile", html, version=_version(html, "profile-form"), terms="grid", exclusions="")
    assert done.status_code == 303 and done.headers["location"].endswith("done=profile&followup=failed")
    assert site.state().match_profile["terms"] == ["grid"]  # type: ignore[index]
    page = client.get(done.headers["location"]).text
    assert "Match profile saved" in page and "scoring recent evidence against it again failed" in page
    assert "Recent evidence was scored against it again" not in page
