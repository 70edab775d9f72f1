"""A gateway's admin for tests, made as `make up` makes one: the command line with a password file, then an API
token issued through the API (log in, `POST /api/v1/tokens` with the cookie and CSRF token, log out)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from connect_devstack import demo
from connect_devstack.app import ADMIN_PASSWORD_FILE, generate_password, write_secret
from connect_devstack.services import create_admin


def new_admin(
    env: Mapping[str, str], base_url: str, state_dir: Path, username: str, token_name: str
) -> tuple[str, str]:
    """(password, API token) of a new admin `username` of the gateway running with `env` at `base_url`."""
    password = generate_password(username)
    password_file = state_dir / ADMIN_PASSWORD_FILE
    write_secret(password_file, password)
    create_admin(env, username, password_file, reset=False)
    session = demo.login(base_url, username, password)
    try:
        return password, demo.issue_token(base_url, session, token_name)
    finally:
        demo.logout(base_url, session)
