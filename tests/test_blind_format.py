"""The blind matching set (tests/data/blind.yaml) is well-formed. It is never tuned on; this only checks its shape."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from tracker.matching.evaluation import load_labelled

ROOT = Path(__file__).resolve().parents[1]
BLIND = ROOT / "tests" / "data" / "blind.yaml"
STANCES = {"supports", "contradicts", "context"}
EARLIEST = date(2025, 7, 1)


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


@pytest.fixture(scope="module")
def items() -> list[dict[str, Any]]:
    return yaml.safe_load(BLIND.read_text(encoding="utf-8"))["items"]


def test_enough_items_and_a_quarter_with_no_label(items: list[dict[str, Any]]) -> None:
    assert len(items) >= 80
    unlabelled = sum(1 for item in items if not item.get("labels"))
    assert unlabelled * 4 >= len(items), (unlabelled, len(items))


def test_ids_unique_and_text_present(items: list[dict[str, Any]]) -> None:
    ids = [item["id"] for item in items]
    assert len(ids) == len(set(ids))
    for item in items:
        assert str(item["title"]).strip() and str(item["summary"]).strip(), item["id"]
        assert str(item.get("language", "")).strip(), item["id"]


def test_labels_name_seed_propositions_with_valid_stances(items: list[dict[str, Any]]) -> None:
    known = _seed_ids()
    for item in items:
        labels = item.get("labels") or {}
        assert isinstance(labels, dict), item["id"]
        assert set(labels) <= known, (item["id"], set(labels) - known)
        assert set(labels.values()) <= STANCES, (item["id"], labels)


def test_dates_from_july_2025_and_not_in_the_future(items: list[dict[str, Any]]) -> None:
    today = datetime.now(UTC).date()
    for item in items:
        day = _day(item["published"])
        assert EARLIEST <= day <= today, (item["id"], day)


def test_loads_through_the_evaluation_loader(items: list[dict[str, Any]]) -> None:
    loaded = load_labelled(BLIND)
    assert [x.item.evidence_id for x in loaded] == [item["id"] for item in items]
