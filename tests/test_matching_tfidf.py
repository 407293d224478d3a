"""The TF-IDF centroid of a proposition's written examples and confirmed items (tracker.matching.tfidf): every
confirmation moves it, a later rejection or a removal takes the item out again, the item is never its own
evidence, and decisions taken one at a time give the same numbers as a replay of them."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from tracker.matching.matcher import ItemInput, Matcher
from tracker.matching.model import FEATURES
from tracker.matching.profile import Exemplar, PropositionInput
from tracker.matching.settings import matcher_options
from tracker.matching.text import analyse
from tracker.matching.tfidf import TfidfCentroids, document

WHEN = datetime(2025, 4, 2, tzinfo=UTC)
ENERGY = PropositionInput(
    proposition_id="energy",
    statement="Russia will not fully keep the halt on strikes against Ukraine's energy infrastructure.",
    match_profile={"terms": ["energy infrastructure"], "examples": [
        {"text": "Transformer yard near Odesa burns after night raid despite the pause", "stance": "supports"},
        {"text": "Grid operator reports a quiet week with no hits on its plants", "stance": "contradicts"},
    ]},
)
BORDERS = PropositionInput(
    proposition_id="borders",
    statement="Handing Ukrainian territory to Russia will not bring a lasting peace.",
    match_profile={"terms": ["territorial concessions"], "examples": [
        {"text": "Envoy floats ceding occupied districts in exchange for a ceasefire", "stance": "context"},
    ]},
)
CONFIRMED = Exemplar("e1", "Substation in Kharkiv region hit by drones, blackout in three districts",
                     stance="supports")
LIKE_IT = ItemInput("x1", "Drones hit another substation in Kharkiv region", published=WHEN)


def doc(text: str) -> dict[str, int]:
    return document(analyse(text).stems)


def centroids() -> TfidfCentroids:
    store = TfidfCentroids()
    store.set_examples("energy", [doc("Transformer yard burns after night raid"), doc("Grid operator reports hits")])
    store.set_examples("borders", [doc("Envoy floats ceding occupied districts for a ceasefire")])
    return store


def cosine(store: TfidfCentroids, text: str, key: str, evidence_id: str = "x") -> float:
    return store.cosines(store.vector(doc(text)), evidence_id, [key]).get(key, 0.0)


def test_documents_are_stems_and_stem_pairs_and_vectors_unit_length() -> None:
    assert document(("grid", "hit", "grid")) == {"grid": 2, "hit": 1, "grid hit": 1, "hit grid": 1}
    vector = centroids().vector(doc("Grid operator reports hits on the grid"))
    assert sum(w * w for w in vector.values()) == pytest.approx(1.0)


def test_a_confirmation_moves_only_its_own_propositions_centroid() -> None:
    store = centroids()
    text = "Substation hit by drones in Kharkiv"
    before = {key: cosine(store, text, key) for key in ("energy", "borders")}
    store.add("energy", "e1", doc("Drones hit a substation near Kharkiv"), confirmed=True)
    assert cosine(store, text, "energy") > before["energy"] + 0.1
    assert cosine(store, text, "borders") == before["borders"]  # the idf comes from the examples only
    assert store.members("energy") == 3


def test_a_later_rejection_or_removal_takes_the_item_out_again() -> None:
    store = centroids()
    fresh = cosine(store, "Substation hit by drones in Kharkiv", "energy")
    store.add("energy", "e1", doc("Drones hit a substation near Kharkiv"), confirmed=True)
    store.add("energy", "e1", doc("Drones hit a substation near Kharkiv"), confirmed=False)  # changed their mind
    assert cosine(store, "Substation hit by drones in Kharkiv", "energy") == fresh
    store.remove("energy")
    assert store.cosines(store.vector(doc("Substation hit")), "x", ["energy"]) == {}


def test_an_item_is_never_its_own_evidence() -> None:
    store = centroids()
    text = "Drones hit a substation near Kharkiv"
    before = cosine(store, text, "energy", "e1")
    store.add("energy", "e1", doc(text), confirmed=True)
    assert cosine(store, text, "energy", "e1") == pytest.approx(before)
    assert cosine(store, text, "energy", "other") > before + 0.3


def test_the_newest_confirmations_are_kept() -> None:
    store = TfidfCentroids(limit=2)
    store.set_examples("energy", [doc("Transformer yard burns")])
    for n in range(4):
        store.add("energy", f"e{n}", doc(f"Substation {n} hit"), confirmed=True)
    replayed = TfidfCentroids(limit=2)
    replayed.set_examples("energy", [doc("Transformer yard burns")])
    replayed.replace_decisions("energy", [("e2", doc("Substation 2 hit"), True), ("e3", doc("Substation 3 hit"), True)])
    assert store.members("energy") == replayed.members("energy") == 3
    vector = store.vector(doc("Substation hit"))
    assert store.cosines(vector, "x", ["energy"]) == replayed.cosines(vector, "x", ["energy"])


def features(matcher: Matcher, item: ItemInput) -> dict[str, dict[str, float]]:
    return {row.key: dict(zip(FEATURES, row.features, strict=True)) for row in matcher.pair_rows(item)}


def test_a_decision_moves_the_matchers_feature_and_replay_gives_the_same_numbers() -> None:
    options = {**matcher_options(), "embedder": None}
    live = Matcher([ENERGY, BORDERS], **options)
    before = features(live, LIKE_IT)["energy"]["example_tfidf"]
    decisions = [CONFIRMED, Exemplar("e2", "Envoy talks about districts", stance=None),
                 Exemplar("e3", "Kyiv power plant shelled overnight", stance="supports"),
                 Exemplar("e3", "Kyiv power plant shelled overnight", stance=None)]  # e3 confirmed, then rejected
    for exemplar in decisions:
        live.learn("energy", exemplar)
    after = features(live, LIKE_IT)
    assert after["energy"]["example_tfidf"] > before + 0.05
    assert after["energy"]["example_tfidf_gap"] == 0.0  # now the item's best
    replayed = Matcher([replace(ENERGY, exemplars=tuple(decisions)), BORDERS], **options)
    assert features(replayed, LIKE_IT) == after  # exactly: a projection of the decisions
    only_e1 = Matcher([replace(ENERGY, exemplars=(CONFIRMED,)), BORDERS], **options)
    assert features(only_e1, LIKE_IT)["energy"]["example_tfidf"] == after["energy"]["example_tfidf"]


def test_the_tfidf_centroid_proposes_candidates_and_is_explained() -> None:
    matcher = Matcher([ENERGY, BORDERS], **matcher_options())
    matcher.learn("energy", CONFIRMED)
    rows = {row.key: row for row in matcher.pair_rows(LIKE_IT)}
    assert rows["energy"].tfidf is not None and rows["energy"].tfidf > 0.15
    words, documents = rows["energy"].tfidf_words()
    assert documents == 3  # two written examples and one confirmed item
    assert "substation" in words or "kharkiv" in words  # the item's own words, not stems
    explanation = next(e for key, _, e in matcher.rank(LIKE_IT) if key == "energy")
    assert explanation["tfidf"]["documents"] == 3
    assert "worded like its examples and confirmed items" in explanation["summary"]
    assert set(explanation["features"]) >= {"example_tfidf", "example_tfidf_gap"}
