"""The held-out matching set (tests/data/heldout.yaml) is well-formed; its quality figures live in benchmarks/."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from tracker.matching.evaluation import load_labelled

ROOT = Path(__file__).resolve().parents[1]
HELDOUT = ROOT / "tests" / "data" / "heldout.yaml"
STANCES = {"supports", "contradicts", "context"}


def _seed_ids() -> set[str]:
    data = yaml.safe_load((ROOT / "seeds" / "propositions.yaml").read_text(encoding="utf-8"))
    entries = data if isinstance(data, list) else data["propositions"]
    return {entry["id"] for entry in entries}


@pytest.fixture(scope="module")
def items() -> list[dict[str, Any]]:
    return yaml.safe_load(HELDOUT.read_text(encoding="utf-8"))["items"]


def test_enough_items_and_enough_with_no_label(items: list[dict[str, Any]]) -> None:
    assert len(items) >= 40
    assert sum(1 for item in items if not item.get("labels")) >= 10


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


def test_dates_parse(items: list[dict[str, Any]]) -> None:
    for item in items:
        value = item["published"]
        parsed = value if isinstance(value, date) else datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        assert date(2025, 1, 1) <= (parsed.date() if isinstance(parsed, datetime) else parsed) <= date(2025, 12, 31)


def test_loads_through_the_evaluation_loader(items: list[dict[str, Any]]) -> None:
    loaded = load_labelled(HELDOUT)
    assert [x.item.evidence_id for x in loaded] == [item["id"] for item in items]
