"""A command costs one trip through the thread pool: its endpoint's. Every sync dependency would add a trip there and
back through the event loop, and under a flood of reads each trip waits behind them (benchmarks/README.md,
"Commands' trips through the pool")."""

from __future__ import annotations

from collections import Counter
from typing import Any

import anyio.to_thread
import pytest

from tests.api.conftest import Api, register, suggest


def _count_pool_trips(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    trips: Counter[str] = Counter()
    original = anyio.to_thread.run_sync

    async def counting(func: Any, *args: Any, **kwargs: Any) -> Any:
        inner = getattr(func, "keywords", {}).get("function", getattr(func, "func", func))  # FastAPI's partials
        trips[getattr(inner, "__name__", repr(inner))] += 1
        return await original(func, *args, **kwargs)

    monkeypatch.setattr(anyio.to_thread, "run_sync", counting)
    return trips


def test_a_confirm_and_a_reject_each_take_one_trip_through_the_thread_pool(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    register(api.tracker, "p1")
    suggest(api.tracker, "p1", "m1", 0.9)
    suggest(api.tracker, "p1", "m2", 0.8)
    trips = _count_pool_trips(monkeypatch)
    confirmed = api.client.post("/matches/m1/confirm", json={"stance": "supports"},
                                headers=api.auth("editor", If_Match='"3"', Idempotency_Key="k-1"))
    assert confirmed.status_code == 200, confirmed.text
    assert trips == Counter({"confirm": 1})
    rejected = api.client.post("/matches/m2/reject", headers=api.auth("editor", Idempotency_Key="k-2"))
    assert rejected.status_code == 200, rejected.text
    assert trips == Counter({"confirm": 1, "reject": 1})
