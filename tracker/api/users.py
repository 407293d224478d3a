"""Moved to tracker/service/users.py; this name stays only until the CLI imports it from there."""

from tracker.service.users import User, add_user, first_admin_token, list_users, revoke_user, user_for_token

__all__ = ["User", "add_user", "first_admin_token", "list_users", "revoke_user", "user_for_token"]
