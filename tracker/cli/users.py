"""`tracker users ...`: API users and their bearer tokens."""

from __future__ import annotations

import click

from tracker.cli.common import UserError, friendly, open_store
from tracker.domain.user import InvalidUser
from tracker.service.users import add_user, list_users, revoke_user


@click.group()
def users() -> None:
    """API users and their bearer tokens (only a hash of each token is stored)."""


@users.command("add")
@click.argument("name")
@click.option("--role", required=True, type=click.Choice(["reader", "editor", "auditor", "admin"]))
@friendly
def users_add(name: str, role: str) -> None:
    """Create user NAME with ROLE and print its new token once."""
    try:
        token = add_user(open_store().store.engine, name, role)
    except InvalidUser as error:
        raise UserError(str(error)) from None
    click.echo(token)
    click.echo(f"user {name} ({role}) created; the token above is shown only once", err=True)


@users.command("revoke")
@click.argument("name")
@friendly
def users_revoke(name: str) -> None:
    """Revoke NAME's token (a later `users add NAME` issues a new one)."""
    if not revoke_user(open_store().store.engine, name):
        raise UserError(f"no active user {name}")
    click.echo(f"user {name} revoked")


@users.command("list")
@friendly
def users_list() -> None:
    """Users, roles and when they were created or revoked."""
    for name, role, created, revoked in list_users(open_store().store.engine):
        click.echo(f"{name:20} {role:8} created {created}" + (f" revoked {revoked}" if revoked else ""))
