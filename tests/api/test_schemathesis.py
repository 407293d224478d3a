"""Schemathesis against the OpenAPI document: generated requests (as admin, which every route accepts)
must never get a 5xx, and every documented response must conform to its schema.

The app is built at import (schemathesis's fixture loader does not work with this pytest), on a scratch
SQLite file holding one proposition with one suggestion.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import schemathesis
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from tests.api.conftest import make_api, register, suggest
from tracker.store.migrate import upgrade

_folder = Path(tempfile.mkdtemp(prefix="tracker-fuzz-"))
_url = f"sqlite:///{_folder / 'tracker.db'}"
upgrade(_url)
_api = next(make_api(_url, _folder))
register(_api.tracker, "p1")
suggest(_api.tracker, "p1", "m1", 0.8)
TOKEN = _api.tokens["admin"]

schema = schemathesis.openapi.from_asgi("/openapi.json", _api.client.app)


@schema.parametrize()
@settings(max_examples=4, deadline=None, phases=[Phase.explicit, Phase.generate],
          suppress_health_check=list(HealthCheck))
def test_no_server_errors_and_conforming_responses(case: schemathesis.Case) -> None:
    case.headers = {**(case.headers or {}), "Authorization": f"Bearer {TOKEN}"}
    response = case.call()
    case.validate_response(response, checks=[not_a_server_error, response_schema_conformance])
