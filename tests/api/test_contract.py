"""The OpenAPI document and the errors agree: problem+json everywhere, with the statuses each route can give."""

from __future__ import annotations

from typing import Any

from tests.api.conftest import Api

PROBLEM = "application/problem+json"
METHODS = ("get", "post", "patch", "delete", "put")


def _operations(api: Api) -> list[tuple[str, str, dict[str, Any]]]:
    document = api.client.get("/openapi.json").json()
    return [(path, method, operation) for path, item in document["paths"].items()
            for method, operation in item.items() if method in METHODS]


def test_every_error_response_is_a_problem(api: Api) -> None:
    document = api.client.get("/openapi.json").json()
    assert {"type", "title", "status", "detail", "instance"} <= set(document["components"]["schemas"]["Problem"]
                                                                   ["properties"])
    assert "HTTPValidationError" not in document["components"]["schemas"]
    for path, method, operation in _operations(api):
        for status, response in operation["responses"].items():
            if status[0] in "45":
                assert response["content"][PROBLEM]["schema"] == {"$ref": "#/components/schemas/Problem"}, (
                    method, path, status)
                assert "application/json" not in response["content"], (method, path, status)


def test_statuses_follow_from_what_a_route_depends_on(api: Api) -> None:
    for path, method, operation in _operations(api):
        responses = operation["responses"]
        if operation.get("security"):
            assert "401" in responses, (method, path)
        if "{" in path:
            assert "404" in responses, (method, path)
        if "requestBody" in operation:
            assert {"413", "422"} <= set(responses), (method, path)
        if path != "/unsubscribe":
            assert "503" in responses, (method, path)
        headers = {p["name"] for p in operation.get("parameters", []) if p["in"] == "header"}
        if "If-Match" in headers:
            assert {"409", "412"} <= set(responses), (method, path)
    by_key = {(m, p): o for p, m, o in _operations(api)}
    assert "403" in by_key[("post", "/propositions")]["responses"]
    assert "403" not in by_key[("get", "/propositions")]["responses"]  # every role may read
    amend = by_key[("post", "/propositions/{proposition_id}/amend")]
    assert {"If-Match", "Idempotency-Key"} <= {p["name"] for p in amend["parameters"]}


def test_filters_with_fixed_values_refuse_others(api: Api) -> None:
    for query in ("status=bogus", "kind=bogus"):
        response = api.client.get(f"/propositions?{query}", headers=api.auth("reader"))
        assert response.status_code == 422 and response.json()["type"].endswith("/invalid-request")
    assert api.client.get("/matches?state=bogus", headers=api.auth("reader")).status_code == 422
    assert api.client.get("/propositions?status=open", headers=api.auth("reader")).status_code == 200


def test_one_problem_shape(api: Api) -> None:
    bad_cursor = api.client.get("/propositions?cursor=abcd", headers=api.auth("reader"))
    assert bad_cursor.status_code == 422 and bad_cursor.headers["content-type"].startswith(PROBLEM)
    body = bad_cursor.json()
    assert body["type"].endswith("/invalid-cursor") and body["detail"] and body["title"]
    not_base64 = api.client.get("/propositions?cursor=!!", headers=api.auth("reader")).json()
    assert not_base64["type"].endswith("/invalid-request") and "cursor" in not_base64["detail"]
    invalid = api.client.get("/propositions?limit=0", headers=api.auth("reader")).json()
    assert invalid["detail"].startswith("query.limit:") and invalid["errors"][0]["loc"] == ["query", "limit"]
    unknown = api.client.get("/no-such-thing").json()
    assert unknown["type"].endswith("/not-found") and unknown["status"] == 404


def test_method_not_allowed_names_every_method_of_the_path(api: Api) -> None:
    response = api.client.request("OPTIONS", "/unsubscribe")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, POST"
    assert response.json()["type"].endswith("/method-not-allowed")


def test_bodies_take_json_types_as_documented(api: Api) -> None:
    editor = api.auth("editor")
    stringly = api.client.post("/feeds", json={"name": "Wire", "url": "https://news.example/feed",
                                               "interval_minutes": "60"}, headers=editor)
    assert stringly.status_code == 422 and stringly.json()["errors"][0]["loc"] == ["body", "interval_minutes"]
    numeric_date = api.client.post("/propositions", json={"kind": "claim", "statement": "Numbers are not dates",
                                                          "resolve_by": 20251231}, headers=editor)
    assert numeric_date.status_code == 422
    dated = api.client.post("/propositions", json={"kind": "claim", "statement": "Dates as text still work",
                                                   "resolve_by": "2025-12-31"}, headers=editor)
    assert dated.status_code == 201, dated.text
    assert dated.json()["proposition"]["resolve_by"] == "2025-12-31"
    as_number = api.client.get(f"/propositions/{dated.json()['proposition']['id']}?as_of=1700000000",
                               headers=api.auth("reader"))
    assert as_number.status_code == 422
