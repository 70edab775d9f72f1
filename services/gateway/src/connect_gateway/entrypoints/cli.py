"""The `connect-gateway` command line: `serve` (the default) and `create-admin`.

`create-admin` is how a deployment gets its first admin, and how an admin who is locked out gets back in:
it writes to the identity database directly, through the same use cases (and rules) as the API.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import secrets
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TextIO

import asyncpg
import pydantic

from connect_events import Role
from connect_events.values import username_problem
from connect_gateway import bootstrap, identity
from connect_gateway.adapters.passwords import Argon2PasswordHasher
from connect_gateway.config import GatewaySettings
from connect_gateway.domain.errors import Refusal
from connect_gateway.domain.identity.passwords import MIN_LENGTH, password_problem
from connect_gateway.domain.identity.users import RESERVED_NAMES, ChangeRole, Enable
from connect_gateway.entrypoints import server
from connect_gateway.ports import (
    IdentityDeps,
    IdentityStore,
    IdentityUnavailableError,
    PasswordHasher,
)
from connect_runtime.logs import configure_logging

PROG = "connect-gateway"
FAILED = 1  # the change could not be made (database unreachable, refused by the rules)
USAGE = 2  # the input is wrong (argparse exits 2 for its own usage errors too)

# The actor recorded on the events `create-admin` causes. It must never be a user's name, or a user could
# pass for the command line in the audit trail: user names cannot hold ':' (connect_events.values.
# USERNAME_PATTERN), so no user can ever be called this. (`system` is reserved for the services themselves.)
ACTOR = "cli:create-admin"

PASSWORD_RULE = (
    f"at least {MIN_LENGTH} characters, at least 4 different ones, not a common password, not containing the user name"
)

CREATE_ADMIN_HELP = """\
Create an enabled admin user, or with --reset-password give an existing user a new password and make it an
enabled admin again (the way back in when no admin can log in).

The password comes from --password-file (a file of one line) or --password-stdin, never from the command
line, where every user of the machine could read it. Without either, a strong password is generated and
printed once on stdout (the messages go to stderr). The password rule:
  {rule}.

Reads the gateway's settings (DATABASE_URL, IDENTITY_DATABASE, GATEWAY_ARGON2_*, ...) from the environment.
It needs the identity database only, not Kafka: the events of the change wait in the identity outbox until a
running gateway publishes them to connect.identity.

Exit status: 0 created, reset, or already there (without --reset-password nothing is changed);
1 the change failed; 2 wrong input (a password breaking the rule, a user name that cannot be one).
"""


class CliError(Exception):
    """A sentence for stderr and the exit status."""

    def __init__(self, message: str, status: int = USAGE) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class Outcome(StrEnum):
    """What `create_admin` did."""

    CREATED = "created"
    EXISTS = "exists"
    RESET = "reset"


@dataclass(frozen=True)
class AdminRequest:
    """A checked `create-admin` invocation; `generated` when the password was made here (to be printed)."""

    username: str
    password: str
    generated: bool
    reset: bool


def parser() -> argparse.ArgumentParser:
    """`connect-gateway [serve | create-admin ...]`."""
    root = argparse.ArgumentParser(prog=PROG, description="Connect's REST API (the default) and its admin commands.")
    sub = root.add_subparsers(dest="command", metavar="{serve,create-admin}")
    sub.add_parser("serve", help="serve the REST API until SIGTERM (the default)")
    admin = sub.add_parser(
        "create-admin",
        help="create the first admin, or reset an admin's password",
        description=CREATE_ADMIN_HELP.format(rule=PASSWORD_RULE),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    admin.add_argument("--username", required=True, help="the admin's user name (lower case, e.g. admin)")
    source = admin.add_mutually_exclusive_group()
    source.add_argument("--password-file", type=Path, metavar="PATH", help="read the password from this file")
    source.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    admin.add_argument(
        "--reset-password",
        action="store_true",
        help="when the user exists: set this password, enable it and make it an admin",
    )
    return root


def run(argv: Sequence[str], stdin: TextIO | None = None) -> int:
    """Run the command line `argv` (without the program name); the exit status."""
    args = parser().parse_args(argv)
    if args.command in (None, "serve"):
        return server.serve()
    try:
        request = admin_request(args, stdin or sys.stdin)
        outcome = asyncio.run(_create_admin(_settings(), request))
    except CliError as exc:
        print(f"{PROG} create-admin: {exc.message}", file=sys.stderr)
        return exc.status
    _report(request, outcome)
    return 0


def admin_request(args: argparse.Namespace, stdin: TextIO) -> AdminRequest:
    """The user name and password of `create-admin`, checked against the rules before anything is opened."""
    username: str = args.username
    if problem := username_problem(username):
        raise CliError(f"the user name {problem}")
    if username in RESERVED_NAMES:
        raise CliError(f"the user name {username} is reserved for Connect itself; choose another")
    password = read_password(args.password_file, args.password_stdin, stdin)
    if password is None:
        return AdminRequest(username, generate_password(username), generated=True, reset=args.reset_password)
    if problem := password_problem(password, username):
        raise CliError(f"the password {problem} (the rule: {PASSWORD_RULE})")
    return AdminRequest(username, password, generated=False, reset=args.reset_password)


def read_password(path: Path | None, from_stdin: bool, stdin: TextIO) -> str | None:
    """The password from a file or stdin (one line, its line ending dropped); None when neither is asked for."""
    if path is not None:
        try:
            return one_line(path.read_text(encoding="utf-8"), f"the password file {path}")
        except (OSError, UnicodeDecodeError) as exc:
            raise CliError(f"cannot read the password file {path} ({type(exc).__name__})") from exc
    if from_stdin:
        text = getpass.getpass("Password: ") if stdin.isatty() else stdin.read()
        return one_line(text, "stdin")
    return None


def one_line(text: str, source: str) -> str:
    """`text` without one final line ending; refused when empty or holding more lines."""
    line = text.removesuffix("\n").removesuffix("\r")
    if not line:
        raise CliError(f"the password from {source} is empty")
    if "\n" in line or "\r" in line:
        raise CliError(f"the password from {source} must be a single line")
    return line


def generate_password(username: str) -> str:
    """A random password of 24 URL-safe characters that passes the rule."""
    while True:
        password = secrets.token_urlsafe(18)
        if password_problem(password, username) is None:
            return password


async def create_admin(deps: IdentityDeps, request: AdminRequest) -> Outcome:
    """Create the admin; an existing user is left alone, or with `reset` given the password and made an admin.

    A reset is three changes (password, enable, role), each its own transaction through `identity.change_user`;
    each is a no-op when already true, so running the command again finishes an interrupted reset.
    """
    found = await deps.identity.get_user(request.username)
    if found is None:
        await identity.create_user(deps, request.username, Role.ADMIN, request.password, ACTOR)
        return Outcome.CREATED
    if not request.reset:
        return Outcome.EXISTS
    await identity.set_password(deps, request.username, request.password, ACTOR)
    await identity.change_user(deps, request.username, Enable(), ACTOR)
    await identity.change_user(deps, request.username, ChangeRole(Role.ADMIN), ACTOR)
    return Outcome.RESET


@dataclass(frozen=True)
class IdentityOnly:
    """What the identity use cases need (`IdentityDeps`): the command line opens no Kafka, catalog or vault."""

    identity: IdentityStore
    hasher: PasswordHasher


def _settings() -> GatewaySettings:
    try:
        return GatewaySettings()
    except pydantic.ValidationError as exc:
        names = ", ".join(sorted({str(error["loc"][0]) for error in exc.errors() if error["loc"]}))
        raise CliError(f"the gateway's settings are incomplete or wrong: {names}") from exc


async def _create_admin(settings: GatewaySettings, request: AdminRequest) -> Outcome:
    configure_logging("gateway", settings.log_level)
    hasher = Argon2PasswordHasher(settings.argon2_time_cost, settings.argon2_memory_kib)
    try:
        async with bootstrap.open_identity(settings) as store:
            return await create_admin(IdentityOnly(store, hasher), request)
    except Refusal as exc:
        raise CliError(exc.message, USAGE if exc.code == "validation_failed" else FAILED) from exc
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, IdentityUnavailableError) as exc:
        what = f"the identity database cannot be used ({type(exc).__name__}); check DATABASE_URL"
        raise CliError(what, FAILED) from exc


def _report(request: AdminRequest, outcome: Outcome) -> None:
    name = request.username
    if outcome is Outcome.EXISTS:
        print(f"user {name} already exists; nothing changed (--reset-password sets a new password)", file=sys.stderr)
        return
    done = "created admin" if outcome is Outcome.CREATED else "set a new password for the enabled admin"
    if not request.generated:
        print(f"{done} {name}", file=sys.stderr)
        return
    print(f"{done} {name}; the generated password follows, shown only this once:", file=sys.stderr)
    print(request.password)
