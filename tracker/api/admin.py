"""User management (admin): create a user (its token is shown once), list, revoke."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from tracker.api.auth import require
from tracker.api.bodies import UserBody
from tracker.api.deps import get_store
from tracker.api.paging import PathId
from tracker.api.problems import Invalid
from tracker.api.schemas import UserCreated, UserSummary
from tracker.domain.user import InvalidUser
from tracker.repository.unit_of_work import NotFound
from tracker.service.users import add_user, list_users, revoke_user
from tracker.store import EventStore

router = APIRouter(prefix="/users", tags=["users"], dependencies=[Depends(require("admin"))])
Store = Annotated[EventStore, Depends(get_store)]


@router.get("", response_model=list[UserSummary])
def users(store: Store) -> list[UserSummary]:
    """Every user with its role (tokens are never shown again)."""
    return [UserSummary(name=n, role=r, created_at=c, revoked_at=v) for n, r, c, v in list_users(store.engine)]


@router.post("", response_model=UserCreated, status_code=201, responses={422: {"description": "user exists"}})
def create_user(body: UserBody, store: Store) -> UserCreated:
    """Create a user; the response holds its token, which is not stored and cannot be shown again."""
    try:
        token = add_user(store.engine, body.name, body.role)
    except InvalidUser as error:
        raise Invalid("invalid-user", str(error)) from None
    return UserCreated(name=body.name, role=body.role, token=token)


@router.post("/{name}/revoke", response_model=UserSummary, responses={404: {"description": "no active user"}})
def revoke(name: PathId, store: Store) -> UserSummary:
    """Revoke the user's token at once."""
    if not revoke_user(store.engine, name):
        raise NotFound(f"no active user {name}")
    found = next(u for u in list_users(store.engine) if u[0] == name)
    return UserSummary(name=found[0], role=found[1], created_at=found[2], revoked_at=found[3])
