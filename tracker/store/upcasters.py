"""Upcasters: old payload shapes are lifted to the current one on read; stored events never change.

Each entry maps (event_type, schema_version) to a function returning the payload at schema_version + 1.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Payload = dict[str, Any]
Upcaster = Callable[[Payload], Payload]


def _registered_v1_to_v2(payload: Payload) -> Payload:
    # Version 1 kept the probability and hedge phrase as two flat fields.
    lifted = {k: v for k, v in payload.items() if k not in ("probability", "hedge")}
    probability = payload.get("probability")
    lifted["stated_confidence"] = (
        None if probability is None else {"phrase": payload.get("hedge"), "probability": probability}
    )
    return lifted


UPCASTERS: dict[tuple[str, int], Upcaster] = {
    ("PropositionRegistered", 1): _registered_v1_to_v2,
}

CURRENT_VERSIONS: dict[str, int] = {"PropositionRegistered": 2}


def current_version(event_type: str) -> int:
    return CURRENT_VERSIONS.get(event_type, 1)


def upcast(event_type: str, schema_version: int, payload: Payload) -> tuple[int, Payload]:
    while (step := UPCASTERS.get((event_type, schema_version))) is not None:
        payload = step(payload)
        schema_version += 1
    return schema_version, payload
