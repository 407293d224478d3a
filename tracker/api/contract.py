"""The OpenAPI document tells the truth about errors: one place adds every route's problem responses.

Which errors a route can answer follows from what it depends on, so they are derived here rather than
declared by hand on each route: a role check (`require_<role>`) gives 401 and, unless every role passes, 403;
a path parameter 404; a body 400 (not decodable), 408 (too slow), 413 (over 1 MiB) and 422; any parameter
422; the store (`get_store`, `get_tracker`) 503; the command markers of tracker/api/commanding.py 409, 412
and 422 (a bad Idempotency-Key). Every 4xx/5xx response is `application/problem+json` with the `Problem`
schema; descriptions a route gives itself in `responses=` are kept.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute, iter_route_contexts

from tracker.api.problems import PROBLEM
from tracker.api.schemas import Problem
from tracker.domain.user import ROLES, allows

PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
STORE_DEPENDENCIES = frozenset({"get_store", "get_tracker"})

# What each marker dependency of tracker/api/commanding.py adds.
COMMAND_PROBLEMS: dict[str, dict[int, str]] = {
    "command_headers": {
        409: "the domain refuses the command in the current state (or a concurrent change won)",
        412: "If-Match is not a version this API issued",
        422: "the body, or the command's data, is not valid; or the Idempotency-Key is malformed or was used "
             "for a different request",
    },
    "versioned_command_headers": {
        409: "the domain refuses the command in the current state (or a concurrent change won)",
        412: "If-Match names a version the resource has moved on from, or one this API never issued",
        422: "the body, or the command's data, is not valid; or the Idempotency-Key is malformed or was used "
             "for a different request",
    },
    "outside_headers": {
        422: "the Idempotency-Key is malformed or was used for a different request",
    },
}


def install(app: FastAPI) -> None:
    """Serve the augmented document at /openapi.json and /docs (built once, on first request)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def document(app: FastAPI) -> dict[str, Any]:
    schema = get_openapi(title=app.title, version=app.version, openapi_version=app.openapi_version,
                         description=app.description, routes=app.routes, tags=app.openapi_tags,
                         servers=app.servers)
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    problem_schema = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    components.update(problem_schema.pop("$defs", {}))
    components["Problem"] = problem_schema
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if not isinstance(route, APIRoute) or not context.include_in_schema:
            continue
        problems = route_problems(context)
        for method in context.methods or ():
            operation = schema["paths"].get(context.path_format, {}).get(method.lower())
            if operation is not None:
                _add_problems(operation, problems)
    used = json.dumps(schema["paths"]) + json.dumps(components)
    for unused in ("HTTPValidationError", "ValidationError"):
        if used.count(f'"#/components/schemas/{unused}"') == 0:
            components.pop(unused, None)
    return schema


def route_problems(route: Any) -> dict[int, str]:
    """The problem responses `route` (an APIRoute or FastAPI's RouteContext) can give, with a description."""
    calls = set(_calls(route.dependant))
    found: dict[int, str] = {}
    roles = [name.removeprefix("require_") for name in calls if name.startswith("require_")]
    if roles:
        found[401] = "no bearer token, or one that is unknown or revoked"
        needed = [r for r in roles if r in ROLES]
        if any(not allows(role, need) for role in ROLES for need in needed):
            found[403] = f"the token's role does not allow this (it needs {' and '.join(sorted(needed))})"
    if route.dependant.path_params:
        names = ", ".join(p.name for p in route.dependant.path_params)
        found[404] = f"no such resource ({names})"
    if route.body_field is not None:
        found[400] = "the body cannot be decoded (not UTF-8)"
        found[408] = "the body did not arrive in time"
        found[413] = "the body is over 1 MiB"
    if route.body_field is not None or _has_parameters(route.dependant):
        found[422] = "a parameter or the body is not valid (`invalid-request` lists each field in `errors`)"
    for marker, extra in COMMAND_PROBLEMS.items():
        if marker in calls:
            found.update(extra)
    if calls & STORE_DEPENDENCIES:
        found[503] = "the database is unavailable or read-only; nothing was written (retry after `Retry-After`)"
    return dict(sorted(found.items()))


def _add_problems(operation: dict[str, Any], problems: dict[int, str]) -> None:
    responses = operation.setdefault("responses", {})
    for status, description in problems.items():
        given = responses.get(str(status))
        if given is None or given.get("description") in (None, "", "Validation Error"):
            responses[str(status)] = {**(given or {}), "description": description}
    for status, response in responses.items():
        if status[0] in "45":
            content = {k: v for k, v in response.get("content", {}).items() if k != "application/json"}
            response["content"] = {PROBLEM: {"schema": PROBLEM_REF}, **content}
    operation["responses"] = dict(sorted(responses.items()))


def _calls(dependant: Dependant) -> Iterator[str]:
    for sub in dependant.dependencies:
        name = getattr(sub.call, "__name__", None)
        if name:
            yield name
        yield from _calls(sub)


def _has_parameters(dependant: Dependant) -> bool:
    if dependant.path_params or dependant.query_params or dependant.header_params or dependant.cookie_params:
        return True
    return any(_has_parameters(sub) for sub in dependant.dependencies if not _is_security(sub))


def _is_security(dependant: Dependant) -> bool:
    # The bearer scheme reads the Authorization header itself; a bad one is a 401, never a 422.
    return type(dependant.call).__module__.startswith("fastapi.security")
