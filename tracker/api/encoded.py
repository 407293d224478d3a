"""Answers encoded once. A read route that builds its body itself returns `json_answer(...)`: FastAPI then neither
validates nor encodes the response model again (the decorator's `response_model` still documents the answer in
OpenAPI, and the tests check that the body fits it)."""

from __future__ import annotations

import json
from typing import Any

from starlette.responses import Response

# What Starlette's JSONResponse writes (compact, UTF-8, no NaN), with the encoder built once, not per call.
_encode = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode


def json_bytes(content: Any) -> bytes:
    return _encode(content).encode()


def json_answer(content: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(json_bytes(content), status_code=status, media_type="application/json", headers=headers)


def json_text_answer(text: str, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """An answer whose JSON text was written already (tracker/queries/hot.py)."""
    return Response(text.encode(), status_code=status, media_type="application/json", headers=headers)
