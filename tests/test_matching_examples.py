"""A match profile's written examples of evidence: loaded from seeds/examples.yaml into the profile, scored as
exemplars that are there before any editor decision, and named in the explanation."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from tracker.matching.matcher import ItemInput, Matcher
from tracker.matching.model import FEATURES
from tracker.matching.profile import EntityTable, PropositionInput, compile_profile
from tracker.matching.settings import matcher_options
from tracker.seeding import SeedError, load_seed_files

ROOT = Path(__file__).resolve().parents[1]

ENERGY = PropositionInput(
    proposition_id="energy",
    statement="Russia will not fully keep the halt on strikes against Ukraine's energy infrastructure.",
    match_profile={"terms": ["energy infrastructure"], "examples": [
        {"text": "Transformer yard near Odesa burns after night raid despite the pause", "stance": "supports"},
        {"text": "Grid operator reports a quiet week with no hits on its plants", "stance": "contradicts"},
        {"text": "", "stance": "supports"},  # empty: ignored
    ]},
)
BORDERS = PropositionInput(
    proposition_id="borders",
    statement="Handing Ukrainian territory to Russia will not bring a lasting peace.",
    match_profile={"terms": ["territorial concessions"]},
)


def test_examples_compile_with_ids_of_their_own_and_empty_ones_dropped() -> None:
    profile = compile_profile(ENERGY, EntityTable())
    assert [e.evidence_id for e in profile.examples] == ["example:energy:0", "example:energy:1"]
    assert [e.stance for e in profile.examples] == ["supports", "contradicts"]
    assert compile_profile(BORDERS, EntityTable()).examples == []


def test_an_item_worded_like_an_example_is_proposed_and_the_example_named() -> None:
    matcher = Matcher([ENERGY, BORDERS], **matcher_options())
    item = ItemInput("x1", "Transformer yard near Odesa burns after a night raid",
                     published=datetime(2025, 4, 2, tzinfo=UTC))
    rows = {row.key: row for row in matcher.pair_rows(item)}
    assert "energy" in rows
    assert rows["energy"].examples and rows["energy"].examples[0][0].evidence_id == "example:energy:0"
    assert rows["energy"].features[FEATURES.index("example_bm25_top")] == 1.0  # best in the examples' word index
    ranked = matcher.rank(item)
    assert ranked[0][0] == "energy"
    explanation = ranked[0][2]
    assert explanation["exemplars"]["examples"][0]["stance"] == "supports"
    assert "profile's example" in explanation["summary"]


def test_dropping_the_examples_on_amendment_forgets_them() -> None:
    matcher = Matcher([ENERGY, BORDERS], **matcher_options())
    assert len(matcher.example_index) == 1
    matcher.replace(PropositionInput("energy", ENERGY.statement, {"terms": ["energy infrastructure"]}))
    assert len(matcher.example_index) == 0
    assert matcher.exemplars.examples["energy"].exemplars == []


def test_seed_examples_reach_every_profile() -> None:
    _, items = load_seed_files(ROOT / "seeds")
    data = yaml.safe_load((ROOT / "seeds" / "examples.yaml").read_text(encoding="utf-8"))
    for item in items:
        examples = item["match_profile"].get("examples", [])
        assert len(examples) == len(data["examples"].get(item["id"], []))
        assert all(e["stance"] in ("supports", "contradicts", "context") and e["text"] for e in examples)


def _seed_dir(tmp_path: Path, examples: str) -> Path:
    for name in ("source.yaml", "propositions.yaml"):
        (tmp_path / name).write_text((ROOT / "seeds" / name).read_text(encoding="utf-8"), encoding="utf-8")
    (tmp_path / "examples.yaml").write_text(examples, encoding="utf-8")
    return tmp_path


@pytest.mark.parametrize(("examples", "message"), [
    ("examples: [1, 2]", "must be a mapping"),
    ("examples:\n  no-such-proposition: []", "no proposition 'no-such-proposition'"),
    ("examples:\n  energy-moratorium-breached: [{text: a strike, stance: maybe}]", "each example needs"),
    ("examples: {a: [", "not valid YAML"),
])
def test_bad_examples_file_is_a_clear_seed_error(tmp_path: Path, examples: str, message: str) -> None:
    with pytest.raises(SeedError, match=message):
        load_seed_files(_seed_dir(tmp_path, examples))


def test_the_stacked_lookup_agrees_with_one_lookup_per_proposition_and_skips_the_item_itself() -> None:
    from tracker.matching.profile import Exemplar

    matcher = Matcher([ENERGY, BORDERS], **matcher_options())
    store = matcher.exemplars
    store.add("borders", Exemplar("e1", "Kyiv rejects any deal that cedes the east", stance="supports"))
    store.add("borders", Exemplar("e2", "Truce lines harden into a new border", stance="context"))
    store.add("energy", Exemplar("e3", "Substation hit in Kharkiv overnight", stance="supports"))
    vector = store.embed_one("Kyiv rejects any deal that cedes the east")
    for kind, buckets in (("confirmed", store.confirmed), ("examples", store.examples)):
        stacked = store.best(kind, vector, frozenset(), "e1", ["energy", "borders"])
        one_by_one = {k: near[0][0] for k in ("energy", "borders")
                      if (near := store.nearest(buckets.get(k), vector, frozenset(), "e1"))}
        assert stacked.keys() == one_by_one.keys()
        assert all(abs(stacked[k] - one_by_one[k]) < 1e-6 for k in stacked)
    nearest = store.nearest(store.confirmed["borders"], vector, frozenset(), "e1")
    assert [store.confirmed["borders"].exemplars[i].evidence_id for _, i in nearest] == ["e2"]
    assert store.best("confirmed", vector, frozenset(), "e1", ["borders"])["borders"] < 0.99


def test_prepared_items_get_the_same_suggestions_as_items_matched_one_by_one() -> None:
    source, seeds = load_seed_files(ROOT / "seeds")
    propositions = [PropositionInput.from_seed(item, str(source["published_at"])) for item in seeds]
    labelled = yaml.safe_load((ROOT / "tests" / "data" / "labelled.yaml").read_text(encoding="utf-8"))["items"][:30]
    items = [ItemInput(x["id"], " ".join(str(x["title"]).split()), " ".join(str(x.get("summary", "")).split()),
                       datetime(2025, 6, 1, tzinfo=UTC)) for x in labelled]
    one_by_one = Matcher(propositions, **matcher_options())
    together = Matcher(propositions, **matcher_options())
    expected = [one_by_one.match(item) for item in items]
    assert together.match_many(items) == expected
    assert any(expected)
