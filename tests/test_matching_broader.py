"""Declared broader propositions (match_profile.broader): a second stage lifts a general proposition when an item
is likely for one of its instances, names that instance in the explanation, and the links reach the product's
matcher through the seeds and the proposition events."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tracker.matching.matcher import ItemInput, Matcher
from tracker.matching.model import BROADER, FEATURES, broader_pulls, load_model, second_stage
from tracker.matching.profile import EntityTable, PropositionInput, compile_profile
from tracker.matching.settings import matcher_options
from tracker.repository.unit_of_work import Tracker
from tracker.seeding import SeedError, load_seed_files, seed
from tracker.suggestions import open_propositions

SEEDS = ROOT / "seeds"
WHEN = datetime(2025, 4, 2, tzinfo=UTC)


def test_profiles_read_their_broader_propositions_and_never_themselves() -> None:
    proposition = PropositionInput("a", "A statement.", {"terms": ["x"], "broader": ["b", "a", "b", "c"]})
    assert compile_profile(proposition, EntityTable()).broader == ("b", "c")
    assert compile_profile(PropositionInput("a", "A statement."), EntityTable()).broader == ()


def test_the_pull_is_the_likeliest_narrower_candidate_and_names_it() -> None:
    first = {"narrow-1": 0.8, "narrow-2": 0.3, "general": 0.1, "other": 0.5}
    broader = {"narrow-1": ("general",), "narrow-2": ("general", "absent"), "other": ()}
    assert broader_pulls(first, broader) == {"general": (0.8, "narrow-1")}

    def probability(features: object) -> float:
        return {0: 0.8, 1: 0.3, 2: 0.1}[int(features[0])]  # type: ignore[index]

    width = len(FEATURES)
    rows = [(key, (float(n), *([0.5] * (width - 1)))) for n, key in enumerate(("narrow-1", "narrow-2", "general"))]
    staged = second_stage(rows, probability, broader)
    assert [narrower for _, narrower in staged] == [None, None, "narrow-1"]
    assert [features[BROADER] for features, _ in staged] == [0.0, 0.0, 0.8]
    # without declared links the column is 0 whatever the rows carried
    assert all(f[BROADER] == 0.0 and n is None for f, n in second_stage(rows, probability, {}))


@pytest.fixture(scope="module")
def seeded_matcher() -> Matcher:
    source, seeds = load_seed_files(SEEDS)
    inputs = [PropositionInput.from_seed(s, source["published_at"]) for s in seeds]
    options = {**matcher_options(), "suggest_threshold": 0.0}
    return Matcher(inputs, **options)


def test_a_broken_energy_pause_pulls_in_moscows_untrustworthy_undertakings(seeded_matcher: Matcher) -> None:
    assert load_model() is not None and load_model().coefficients[BROADER] > 0  # type: ignore[union-attr]
    assert "moscow-undertakings-untrustworthy" in seeded_matcher.profiles["energy-moratorium-breached"].broader
    item = ItemInput("x1", "Russian drones hit a substation in Kharkiv days into the energy truce",
                     "Power plants and substations were struck despite the 30-day pause on energy strikes.",
                     published=WHEN)
    ranked = {key: explanation for key, _, explanation in seeded_matcher.rank(item, k=30)}
    general = ranked["moscow-undertakings-untrustworthy"]
    assert general["broader_of"]["proposition_id"] == "energy-moratorium-breached"
    assert general["features"]["broader_pull"] == pytest.approx(general["broader_of"]["probability"], abs=1e-3)
    assert "an instance of it, energy-moratorium-breached, is likely" in general["summary"]
    assert ranked["energy-moratorium-breached"]["broader_of"] is None  # nothing declares it broader


def test_seed_validation_refuses_unknown_or_self_broader(tmp_path: Path) -> None:
    source, items = load_seed_files(SEEDS)
    text = (SEEDS / "propositions.yaml").read_text(encoding="utf-8")
    for bad in ("[no-such-proposition]", "[energy-moratorium-breached]", "moscow-undertakings-untrustworthy"):
        folder = tmp_path / bad.strip("[]")
        folder.mkdir()
        (folder / "source.yaml").write_text((SEEDS / "source.yaml").read_text(encoding="utf-8"), encoding="utf-8")
        (folder / "propositions.yaml").write_text(
            text.replace("    broader: [moscow-undertakings-untrustworthy]", f"    broader: {bad}", 1),
            encoding="utf-8")
        with pytest.raises(SeedError, match="broader"):
            load_seed_files(folder)


def test_links_reach_the_products_matcher_and_older_stores_get_them_once(tracker: Tracker, tmp_path: Path) -> None:
    old = tmp_path / "old"
    old.mkdir()
    (old / "source.yaml").write_text((SEEDS / "source.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    (old / "propositions.yaml").write_text("\n".join(
        line for line in (SEEDS / "propositions.yaml").read_text(encoding="utf-8").splitlines()
        if not line.strip().startswith("broader:")), encoding="utf-8")
    (old / "examples.yaml").write_text((SEEDS / "examples.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    seed(tracker, old)
    head = tracker.store.head()
    _, items = load_seed_files(SEEDS)
    declared = {item["id"] for item in items if (item.get("match_profile") or {}).get("broader")}

    upgraded = seed(tracker, SEEDS)
    assert set(upgraded.given_broader) == declared and upgraded.given_examples == ()
    assert tracker.store.head() == head + len(declared)
    assert seed(tracker, SEEDS).given_broader == () and tracker.store.head() == head + len(declared)
    with tracker.store.engine.connect() as connection:
        inputs = {p.proposition_id: p for p in open_propositions(connection)}
    matcher = Matcher(inputs.values(), **{**matcher_options(), "embedder": None})
    for item in items:
        assert matcher.profiles[item["id"]].broader == tuple((item.get("match_profile") or {}).get("broader") or ())
