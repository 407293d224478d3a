"""The matching evaluation sets (tests/data/heldout.yaml, dev.yaml, blind.yaml) are well-formed. Only their shape is
checked here; their quality figures live in benchmarks/. The blind set is never tuned on."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from tracker.matching.evaluation import load_labelled

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"
STANCES = {"supports", "contradicts", "context"}


@dataclass(frozen=True)
class SetShape:
    least_items: int
    least_unlabelled_share: float  # items bearing on no proposition, as a share of all
    earliest: date
    latest: date | None  # None: not after today
    language_required: bool = False


SETS = {
    "heldout": SetShape(40, 0.20, date(2025, 1, 1), date(2025, 12, 31)),
    "dev": SetShape(150, 0.25, date(2025, 1, 1), date(2026, 2, 28)),
    # issue 12: >= 80 items from July 2025 on, >= 25% bearing on none
    "blind": SetShape(80, 0.25, date(2025, 7, 1), None, language_required=True),
}


def _seed_ids() -> set[str]:
    data = yaml.safe_load((ROOT / "seeds" / "propositions.yaml").read_text(encoding="utf-8"))
    entries = data if isinstance(data, list) else data["propositions"]
    return {entry["id"] for entry in entries}


def _day(value: Any) -> date:
    if isinstance(value, datetime):
        return value.astimezone(UTC).date() if value.tzinfo else value.date()
    if isinstance(value, date):
        return value
    return datetime.fromisoformat(str(value).replace("Z", "+00:00")).astimezone(UTC).date()


@pytest.fixture(scope="module", params=sorted(SETS))
def name(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture(scope="module")
def items(name: str) -> list[dict[str, Any]]:
    return yaml.safe_load((DATA / f"{name}.yaml").read_text(encoding="utf-8"))["items"]


def test_enough_items_and_enough_with_no_label(name: str, items: list[dict[str, Any]]) -> None:
    shape = SETS[name]
    assert len(items) >= shape.least_items
    unlabelled = sum(1 for item in items if not item.get("labels"))
    assert unlabelled >= shape.least_unlabelled_share * len(items), (unlabelled, len(items))


def test_ids_unique_and_text_present(name: str, items: list[dict[str, Any]]) -> None:
    ids = [item["id"] for item in items]
    assert len(ids) == len(set(ids))
    for item in items:
        assert str(item["title"]).strip() and str(item["summary"]).strip(), item["id"]
        if SETS[name].language_required:
            assert str(item.get("language", "")).strip(), item["id"]


def test_labels_name_seed_propositions_with_valid_stances(items: list[dict[str, Any]]) -> None:
    known = _seed_ids()
    for item in items:
        labels = item.get("labels") or {}
        assert isinstance(labels, dict), item["id"]
        assert set(labels) <= known, (item["id"], set(labels) - known)
        assert set(labels.values()) <= STANCES, (item["id"], labels)


def test_dates_within_the_sets_period(name: str, items: list[dict[str, Any]]) -> None:
    shape = SETS[name]
    latest = shape.latest or datetime.now(UTC).date()
    for item in items:
        day = _day(item["published"])
        assert shape.earliest <= day <= latest, (item["id"], day)


def test_loads_through_the_evaluation_loader(name: str, items: list[dict[str, Any]]) -> None:
    loaded = load_labelled(DATA / f"{name}.yaml")
    assert [x.item.evidence_id for x in loaded] == [item["id"] for item in items]
