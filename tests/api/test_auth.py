"""Every endpoint x every role (and no token): 401 / 403 / allowed, and every denial logged."""

from __future__ import annotations

import logging
import re

import pytest

from tests.api.conftest import ROLES, Api
from tracker.service.users import revoke_user

# The role each route needs; a route missing here fails test_every_route_has_a_role.
REQUIRED = {
    ("GET", "/propositions"): "reader",
    ("GET", "/propositions/{proposition_id}"): "reader",
    ("GET", "/propositions/{proposition_id}/history"): "reader",
    ("POST", "/propositions"): "editor",
    ("POST", "/propositions/{proposition_id}/amend"): "editor",
    ("POST", "/propositions/{proposition_id}/resolve"): "editor",
    ("POST", "/propositions/{proposition_id}/withdraw"): "editor",
    ("POST", "/propositions/{proposition_id}/reopen"): "editor",
    ("POST", "/propositions/{proposition_id}/evidence"): "editor",
    ("GET", "/matches"): "reader",
    ("POST", "/matches/{match_id}/confirm"): "editor",
    ("POST", "/matches/{match_id}/reject"): "editor",
    ("POST", "/matches/{match_id}/retract"): "editor",
    ("POST", "/matches/reject"): "editor",
    ("POST", "/propositions/{proposition_id}/mute"): "editor",
    ("POST", "/propositions/{proposition_id}/unmute"): "editor",
    ("POST", "/propositions/{proposition_id}/evidence-window"): "editor",
    ("GET", "/evidence"): "reader",
    ("GET", "/feeds"): "reader",
    ("POST", "/feeds"): "editor",
    ("POST", "/feeds/{feed_id}/fetch"): "editor",
    ("POST", "/feeds/{feed_id}/enable"): "editor",
    ("GET", "/users"): "admin",
    ("POST", "/users"): "admin",
    ("POST", "/users/{name}/revoke"): "admin",
    ("POST", "/sources"): "editor",
    ("GET", "/sources/{source_id}/candidates"): "editor",
    ("POST", "/sources/{source_id}/candidates/{n}/accept"): "editor",
    ("GET", "/scorecard"): "reader",
    ("GET", "/propositions/{proposition_id}/claimreview"): "reader",
}
# Routers of other work (audit, digests, subscribers) are checked by prefix.
PREFIXES = {"/audit": "auditor", "/digests": "editor", "/subscribers": "editor"}
ALLOWED = {
    "reader": {"reader", "editor", "auditor", "admin"},
    "editor": {"editor", "admin"},
    "auditor": {"auditor", "admin"},
    "admin": {"admin"},
}
PUBLIC = {"/health", "/unsubscribe", "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}


def routes(api: Api) -> list[tuple[str, str]]:
    """Every operation of the OpenAPI document (included routers are not flattened in app.routes)."""
    paths = api.client.get("/openapi.json").json()["paths"]
    return [(method.upper(), path) for path, item in paths.items() if path not in PUBLIC for method in item]


def required_role(method: str, path: str) -> str | None:
    if (method, path) in REQUIRED:
        return REQUIRED[(method, path)]
    return next((role for prefix, role in PREFIXES.items() if path.startswith(prefix)), None)


def concrete(path: str) -> str:
    return re.sub(r"\{n\}", "1", re.sub(r"\{[a-z_]+\}", "no-such-thing", path))


def test_every_route_has_a_role(api: Api) -> None:
    listed = routes(api)
    assert len(listed) >= 20
    assert [r for r in listed if required_role(*r) is None] == []


def test_health_needs_no_token(api: Api) -> None:
    assert api.client.get("/health").status_code == 200


@pytest.mark.parametrize("role", [None, *ROLES, "bad"])
def test_role_matrix(api: Api, role: str | None, caplog: pytest.LogCaptureFixture) -> None:
    for method, path in routes(api):
        needed = required_role(method, path)
        assert needed is not None
        headers = {"Authorization": "Bearer pt_not-a-token"} if role == "bad" else api.auth(role)
        before = api.head()
        with caplog.at_level(logging.WARNING, logger="tracker.api.auth"):
            caplog.clear()
            response = api.client.request(method, concrete(path), headers=headers, json={})
        where = f"{role} {method} {path}: {response.status_code} {response.text[:200]}"
        if role in (None, "bad"):
            assert response.status_code == 401, where
            assert response.headers["www-authenticate"].startswith("Bearer"), where
            assert response.headers["content-type"] == "application/problem+json", where
            assert any("access denied 401" in r.getMessage() for r in caplog.records), where
            assert api.head() == before, where  # a denial writes nothing
        elif role not in ALLOWED[needed]:
            assert response.status_code == 403, where
            assert response.json()["type"].endswith("/forbidden"), where
            assert any("access denied 403" in r.getMessage() and role in r.getMessage()
                       for r in caplog.records), where
            assert api.head() == before, where
        else:
            assert response.status_code not in (401, 403, 500), where


def test_revoked_token_is_refused(api: Api) -> None:
    assert api.client.get("/propositions", headers=api.auth("reader")).status_code == 200
    assert revoke_user(api.store.engine, "reader")
    response = api.client.get("/propositions", headers=api.auth("reader"))
    assert response.status_code == 401


def test_admin_creates_a_user_whose_token_works_once_shown(api: Api) -> None:
    created = api.client.post("/users", json={"name": "ana", "role": "editor"}, headers=api.auth("admin"))
    assert created.status_code == 201
    token = created.json()["token"]
    listed = api.client.get("/users", headers=api.auth("admin")).json()
    assert token not in str(listed) and {"ana", "admin"} <= {u["name"] for u in listed}
    mine = api.client.get("/propositions", headers={"Authorization": f"Bearer {token}"})
    assert mine.status_code == 200
    again = api.client.post("/users", json={"name": "ana", "role": "editor"}, headers=api.auth("admin"))
    assert again.status_code == 422


def test_tokens_are_stored_only_as_hashes(api: Api) -> None:
    import sqlalchemy as sa

    with api.store.engine.connect() as connection:
        stored = " ".join(str(v) for row in connection.execute(sa.text("SELECT * FROM api_users")) for v in row)
    assert all(token not in stored for token in api.tokens.values())
