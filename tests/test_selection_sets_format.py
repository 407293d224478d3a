"""The held-out and dev matching sets (tests/data/heldout.yaml, dev.yaml) are well-formed; their quality figures live
in benchmarks/."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from tracker.matching.evaluation import load_labelled

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"
# name -> (least items, least items bearing on no proposition, latest publication date)
SETS = {"heldout": (40, 10, date(2025, 12, 31)), "dev": (150, 40, date(2026, 2, 28))}
STANCES = {"supports", "contradicts", "context"}


def _seed_ids() -> set[str]:
    data = yaml.safe_load((ROOT / "seeds" / "propositions.yaml").read_text(encoding="utf-8"))
    entries = data if isinstance(data, list) else data["propositions"]
    return {entry["id"] for entry in entries}


@pytest.fixture(scope="module", params=sorted(SETS))
def name(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture(scope="module")
def items(name: str) -> list[dict[str, Any]]:
    return yaml.safe_load((DATA / f"{name}.yaml").read_text(encoding="utf-8"))["items"]


def test_enough_items_and_enough_with_no_label(name: str, items: list[dict[str, Any]]) -> None:
    least, unlabelled, _ = SETS[name]
    assert len(items) >= least
    assert sum(1 for item in items if not item.get("labels")) >= unlabelled


def test_ids_unique_and_text_present(items: list[dict[str, Any]]) -> None:
    ids = [item["id"] for item in items]
    assert len(ids) == len(set(ids))
    for item in items:
        assert str(item["title"]).strip() and str(item["summary"]).strip(), item["id"]


def test_labels_name_seed_propositions_with_valid_stances(items: list[dict[str, Any]]) -> None:
    known = _seed_ids()
    for item in items:
        labels = item.get("labels") or {}
        assert isinstance(labels, dict), item["id"]
        assert set(labels) <= known, (item["id"], set(labels) - known)
        assert set(labels.values()) <= STANCES, (item["id"], labels)


def test_dates_parse(name: str, items: list[dict[str, Any]]) -> None:
    latest = SETS[name][2]
    for item in items:
        value = item["published"]
        parsed = value if isinstance(value, date) else datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        assert date(2025, 1, 1) <= (parsed.date() if isinstance(parsed, datetime) else parsed) <= latest


def test_loads_through_the_evaluation_loader(name: str, items: list[dict[str, Any]]) -> None:
    loaded = load_labelled(DATA / f"{name}.yaml")
    assert [x.item.evidence_id for x in loaded] == [item["id"] for item in items]
