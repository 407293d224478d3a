"""The embedding stage, the fitted model and learning from editors' decisions."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from tracker.matching import ItemInput, Matcher, PropositionInput
from tracker.matching.embedding import load_embedder
from tracker.matching.model import FEATURES, load_model
from tracker.matching.profile import Exemplar
from tracker.matching.settings import matcher_options

ROOT = Path(__file__).resolve().parents[1]
AFTER = datetime(2025, 7, 2, 9, 0, tzinfo=UTC)

PEACE = PropositionInput(
    proposition_id="talks",
    statement="Russia will not agree to an unconditional ceasefire in talks brokered by the United States.",
    match_profile={"terms": ["unconditional ceasefire", "peace talks"], "entities": {"Russia": [], "Ukraine": []}},
    not_before=date(2025, 3, 19),
)
NATO = PropositionInput(
    proposition_id="nato",
    statement="European NATO members will raise defence spending sharply.",
    match_profile={"terms": ["defence spending", "military budget"], "entities": {"NATO": [], "Europe": []}},
    not_before=date(2025, 3, 19),
)


def item(evidence_id: str, title: str, summary: str = "") -> ItemInput:
    return ItemInput(evidence_id, title, summary, AFTER, "en")


OFFLINE = """
import socket, sys
def refuse(*args, **kwargs):
    raise OSError("network disabled in this test")
socket.socket.connect = refuse
socket.socket.connect_ex = refuse
socket.create_connection = refuse
socket.getaddrinfo = refuse
from tracker.matching.embedding import load_embedder
embedder = load_embedder()
assert embedder is not None, "wordllama is not installed or did not load from the wheel"
vectors = embedder.embed(["The Kremlin rejected a ceasefire", "Moscow turned down the truce", "football"])
near, far = float(vectors[0] @ vectors[1]), float(vectors[0] @ vectors[2])
assert near > far, (near, far)
print("ok", embedder.dim, round(near, 3), round(far, 3))
"""


def test_embedder_loads_and_embeds_with_the_network_unreachable() -> None:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
           "HF_HOME": "/nonexistent-hf-home", "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", OFFLINE], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("ok 256")


def test_the_fitted_model_is_committed_and_the_default() -> None:
    model = load_model()
    assert model is not None
    options = matcher_options()
    assert options["model"] is model and options["embedder"] is load_embedder()
    assert 0.0 < options["suggest_threshold"] < 1.0
    # a stricter precision target never lowers the threshold
    assert model.threshold_for(0.9) >= model.threshold_for(0.75) >= model.threshold_for(0.6)


def matcher() -> Matcher:
    return Matcher([PEACE, NATO], **matcher_options(suggest_threshold=0.0))


def score(m: Matcher, it: ItemInput, key: str) -> float:
    return next((s for k, s, _ in m.rank(it, 3) if k == key), 0.0)


def test_scores_are_probabilities_and_explanations_keep_their_keys() -> None:
    suggestions = matcher().match(item("x1", "Kremlin rejects unconditional ceasefire proposal in peace talks"))
    assert suggestions and suggestions[0].proposition_id == "talks"
    explanation = suggestions[0].explanation
    json.dumps(explanation)
    assert 0.0 <= suggestions[0].score <= 1.0 and explanation["score"] == suggestions[0].score
    for key in ("entities", "terms", "stance_cues", "components", "bm25", "recency", "vetoes", "summary"):
        assert key in explanation, key
    assert "likely to be confirmed" in explanation["summary"]


def test_a_paraphrase_is_proposed_by_the_embedding_stage() -> None:
    m = matcher()
    # no profile term: "truce" and "negotiations" are not in the profile, "the Russian leader" names nobody
    m.match(item("x2", "The Russian leader turns down a full truce during negotiations with Washington"))
    assert "talks" in m.stats.last_rescored


def test_confirmed_exemplars_raise_and_rejected_ones_lower_the_score() -> None:
    probe = item("p", "Moscow says any pause in fighting must wait for a final settlement", "Envoys met in Istanbul.")
    base = score(matcher(), probe, "talks")
    taught = matcher()
    taught.learn("talks", Exemplar("c1", "Moscow insists a pause in fighting must wait for a settlement",
                                   "Envoys met again.", "supports"))
    better = score(taught, probe, "talks")
    warned = matcher()
    warned.learn("talks", Exemplar("r1", "Moscow says any pause in fighting must wait for a final settlement",
                                   "Envoys met in Istanbul.", None))
    worse = score(warned, probe, "talks")
    assert better > base > worse, (better, base, worse)


def test_cosines_are_centred_on_the_domain_mean_and_the_centroid_of_confirmed_items_counts() -> None:
    model = load_model()
    embedder = load_embedder()
    assert model is not None and embedder is not None
    assert model.embedding_mean is not None and len(model.embedding_mean) == embedder.dim
    m = matcher()
    assert m.exemplars.mean is not None  # taken from the model
    # Centring removes what all war news shares: two unrelated war headlines are far less alike than raw.
    a, b = "Russian drones hit Kharkiv overnight", "Ukraine and Russia trade prisoners in Istanbul"
    raw = float(embedder.embed_one(a) @ embedder.embed_one(b))
    centred = float(m.exemplars.embed_one(a) @ m.exemplars.embed_one(b))
    assert centred < raw
    # The centroid of a proposition's confirmed items is a feature with a learnt positive weight.
    index = FEATURES.index("confirmed_centroid")
    assert model.coefficients[index] > 0
    probe = item("p", "Moscow says any pause in fighting must wait for a final settlement", "Envoys met in Istanbul.")
    m.learn("talks", Exemplar("c1", "Kremlin: no truce before a settlement is signed", "Talks resumed.", "supports"))
    m.learn("talks", Exemplar("c2", "Moscow insists a pause in fighting must wait for a deal", "", "supports"))
    (row,) = [r for r in m.pair_rows(probe) if r.key == "talks"]
    assert row.features[index] > 0.3


def test_explanation_names_the_decisions_that_shaped_it() -> None:
    m = matcher()
    m.learn("talks", Exemplar("c1", "Kremlin refuses a truce until its demands are met", "", "supports"))
    m.learn("talks", Exemplar("r1", "Kremlin refuses to comment on football transfer", "", None))
    (top, *_) = m.rank(item("x3", "Kremlin refuses a truce until its demands are met, envoy says"), 1)
    summary = top[2]["summary"]
    assert "close to confirmed item 'Kremlin refuses a truce until its demands are met' (supports" in summary
    assert top[2]["exemplars"]["confirmed"][0]["evidence_id"] == "c1"


def test_the_item_is_never_its_own_exemplar() -> None:
    m = matcher()
    it = item("same", "Moscow says any pause in fighting must wait for a final settlement")
    before = score(m, it, "talks")
    m.learn("talks", Exemplar("same", it.title, "", None))
    assert score(m, it, "talks") == pytest.approx(before)


def test_stance_follows_editors_on_similar_items() -> None:
    m = matcher()
    for n in range(4):
        m.learn("talks", Exemplar(f"c{n}", f"Envoys report progress on prisoner swaps, round {n}", "", "context"))
    (top,) = [s for s in m.match(item("x4", "Envoys report progress on prisoner swaps, round 9")) if
              s.proposition_id == "talks"]
    assert top.suggested_stance == "context"


@pytest.mark.parametrize(("name", "least_recall", "least_precision"), [("labelled", 0.6, 0.85), ("dev", 0.45, 0.65)])
def test_model_quality_on_the_sets_it_was_fitted_on(name: str, least_recall: float, least_precision: float) -> None:
    """A guard against a broken fit or feature code, not a quality claim: these are the sets it was fitted on."""
    from tracker.matching.evaluation import evaluate, load_labelled, matcher_suggest, propositions_from_seeds
    from tracker.seeding import load_seed_files

    source, seeds = load_seed_files(ROOT / "seeds")
    m = Matcher(propositions_from_seeds(seeds, source), **matcher_options())
    result = evaluate(matcher_suggest(m), load_labelled(ROOT / "tests" / "data" / f"{name}.yaml"))
    assert result["recall@3"] >= least_recall, result
    assert result["precision"] >= least_precision, result
    assert result["stance_accuracy"] >= result["majority_stance"]["agreement"], result
