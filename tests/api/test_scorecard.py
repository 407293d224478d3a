"""Scorecard figures and ClaimReview over HTTP."""

from __future__ import annotations

from tests.api.conftest import Api, register
from tracker.domain.source import RegisterSource


def test_scorecard_and_claimreview(api: Api) -> None:
    api.tracker.register_source(RegisterSource(
        source_id="fp-1", outlet="Foreign Policy", author="A. Writer", title="T", published_at="2025-03-19",
        url="https://example.org/a", text_sha256="0" * 64), actor="system:test")
    register(api.tracker, "p1", source_id="fp-1")  # probability 0.7
    register(api.tracker, "p2", "Kyiv will hold the line", source_id="fp-1")
    register(api.tracker, "p3", "Something without a source", kind="claim")
    editor = api.auth("editor")
    assert api.client.post("/propositions/p1/resolve", json={"outcome": "confirmed", "note": "seen"},
                           headers=editor).status_code == 200
    api.client.post("/propositions/p2/resolve", json={"outcome": "refuted"}, headers=editor)
    card = api.client.get("/scorecard", headers=api.auth("reader")).json()
    author = next(r for r in card["authors"] if r["name"] == "A. Writer")
    assert author["by_status"] == {"confirmed": 1, "refuted": 1} and author["resolved_predictions"] == 2
    assert author["brier_count"] == 2 and abs(author["mean_brier"] - (0.09 + 0.49) / 2) < 1e-9
    assert any(r["name"] == "(no source)" and r["mean_brier"] is None for r in card["sources"])

    review = api.client.get("/propositions/p1/claimreview", headers=api.auth("reader"))
    assert review.status_code == 200 and review.headers["content-type"].startswith("application/ld+json")
    body = review.json()
    assert body["@type"] == "ClaimReview" and body["reviewRating"]["alternateName"] == "True"
    assert body["itemReviewed"]["author"]["name"] == "A. Writer"
    assert api.client.get("/propositions/p3/claimreview", headers=api.auth("reader")).status_code == 409
    assert api.client.get("/propositions/zz/claimreview", headers=api.auth("reader")).status_code == 404
