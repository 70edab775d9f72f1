"""`connect-gateway` command line: serve by default, `create-admin` input rules and its use-case path."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest

from connect_events import Role, UserEvent
from connect_events.values import username_problem
from connect_gateway.domain.identity.passwords import password_problem
from connect_gateway.domain.identity.users import UserState, evolve
from connect_gateway.entrypoints import cli
from connect_gateway.ports import IdentitySecrets, UserRecord

AT = datetime(2025, 1, 1, tzinfo=UTC)
GOOD = "tangerine-otter-47-quay"


def request(argv: Sequence[str], stdin: str = "") -> cli.AdminRequest:
    return cli.admin_request(cli.parser().parse_args(["create-admin", *argv]), io.StringIO(stdin))


# -- arguments ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("argv", [[], ["serve"]])
def test_no_subcommand_or_serve_serves(argv: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    served: list[bool] = []
    monkeypatch.setattr(cli.server, "serve", lambda: served.append(True) or 3)
    assert cli.run(argv) == 3
    assert served == [True]


@pytest.mark.parametrize(
    "argv",
    [
        ["create-admin"],  # --username is required
        ["create-admin", "--username", "admin", "--password", GOOD],  # never a password on the command line
        ["create-admin", "--username", "admin", "--password-file", "f", "--password-stdin"],  # one source
        ["nonsense"],
    ],
)
def test_bad_arguments_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        cli.parser().parse_args(argv)
    assert exit_.value.code == 2


def test_create_admin_help_names_the_outbox_and_the_rule(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.parser().parse_args(["create-admin", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "identity outbox until a running gateway publishes them" in text
    assert "at least 12 characters" in text and "never from the command line" in text


def test_the_actor_can_never_be_a_user_name() -> None:
    assert username_problem(cli.ACTOR) is not None


# -- user name and password ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "words"), [("Admin", "lower-case"), ("system", "reserved"), ("a:b", "lower-case")])
def test_a_user_name_that_cannot_be_one_is_refused(name: str, words: str) -> None:
    with pytest.raises(cli.CliError) as error:
        request(["--username", name, "--password-stdin"], GOOD)
    assert error.value.status == 2 and words in error.value.message


@pytest.mark.parametrize(
    ("password", "words"),
    [
        ("short1!", "at least 12 characters"),
        ("password123!", "common"),
        ("abcabcabcabcabcabc", "different characters"),
        ("my-admin-is-great-2025", "user name"),
    ],
)
def test_a_password_breaking_the_rule_exits_2_naming_the_rule(password: str, words: str) -> None:
    with pytest.raises(cli.CliError) as error:
        request(["--username", "admin", "--password-stdin"], password + "\n")
    assert error.value.status == 2
    assert words in error.value.message and cli.PASSWORD_RULE in error.value.message


def test_run_reports_a_bad_password_before_opening_anything(capsys: pytest.CaptureFixture[str]) -> None:
    status = cli.run(["create-admin", "--username", "admin", "--password-stdin"], stdin=io.StringIO("short\n"))
    assert status == 2
    captured = capsys.readouterr()
    assert "the password must be at least 12 characters" in captured.err
    assert captured.out == ""


def test_the_password_file_gives_its_one_line(tmp_path: Path) -> None:
    path = tmp_path / "pw"
    path.write_text(GOOD + "\r\n")
    made = request(["--username", "admin", "--password-file", str(path), "--reset-password"])
    assert made == cli.AdminRequest("admin", GOOD, generated=False, reset=True)


def test_spaces_are_part_of_the_password() -> None:
    assert request(["--username", "admin", "--password-stdin"], f" {GOOD} \n").password == f" {GOOD} "


@pytest.mark.parametrize(("text", "words"), [("", "is empty"), ("\n", "is empty"), (f"{GOOD}\nmore\n", "single line")])
def test_an_empty_or_several_line_password_is_refused(text: str, words: str, tmp_path: Path) -> None:
    path = tmp_path / "pw"
    path.write_text(text)
    with pytest.raises(cli.CliError) as error:
        request(["--username", "admin", "--password-file", str(path)])
    assert error.value.status == 2 and words in error.value.message


def test_a_missing_password_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(cli.CliError) as error:
        request(["--username", "admin", "--password-file", str(tmp_path / "absent")])
    assert "cannot read the password file" in error.value.message


def test_without_a_password_option_one_is_generated() -> None:
    made = request(["--username", "admin"])
    assert made.generated and len(made.password) == 24
    assert password_problem(made.password, "admin") is None
    assert request(["--username", "admin"]).password != made.password


# -- the use-case path ---------------------------------------------------------------------------------------


class FakeHasher:
    def hash(self, password: str) -> str:
        return f"hashed:{password}"

    def verify(self, password: str, hashed: str) -> tuple[bool, str | None]:
        return hashed == self.hash(password), None


class FakeIdentity:
    """Users only: what `create_admin` and `identity.change_user` touch."""

    def __init__(self) -> None:
        self.states: dict[str, UserState] = {}
        self.hashes: dict[str, str] = {}
        self.events: list[UserEvent] = []

    @asynccontextmanager
    async def change(self) -> AsyncIterator[FakeIdentity]:
        yield self

    async def load(self, username: str) -> UserState:
        return self.states.get(username, UserState(username))

    async def enabled_admins(self) -> int:
        return sum(1 for s in self.states.values() if s.enabled and s.role is Role.ADMIN)

    async def commit(self, events: Sequence[UserEvent], secrets: IdentitySecrets) -> None:
        for event in events:
            name = event.aggregate_id
            self.states[name] = evolve(self.states.get(name, UserState(name)), event)
            self.events.append(event)
            if secrets.password_hash is not None:
                self.hashes[name] = secrets.password_hash

    async def get_user(self, username: str) -> UserRecord | None:
        state = self.states.get(username)
        if state is None:
            return None
        return UserRecord(username, state.role, state.enabled, state.version, AT, "x", AT, "x")


@pytest.fixture
def store() -> FakeIdentity:
    return FakeIdentity()


def admin(password: str = GOOD, *, reset: bool = False) -> cli.AdminRequest:
    return cli.AdminRequest("admin", password, generated=False, reset=reset)


async def test_creates_an_enabled_admin_as_the_cli_actor(store: FakeIdentity) -> None:
    outcome = await cli.create_admin(cli.IdentityOnly(store, FakeHasher()), admin())  # type: ignore[arg-type]
    assert outcome is cli.Outcome.CREATED
    assert store.states["admin"].role is Role.ADMIN and store.states["admin"].enabled
    assert store.hashes["admin"] == f"hashed:{GOOD}"
    assert [e.actor for e in store.events] == [cli.ACTOR]


async def test_an_existing_user_is_left_alone_without_reset(store: FakeIdentity) -> None:
    deps = cli.IdentityOnly(store, FakeHasher())  # type: ignore[arg-type]
    await cli.create_admin(deps, admin())
    assert await cli.create_admin(deps, admin("plum-harbour-glacier-19")) is cli.Outcome.EXISTS
    assert store.hashes["admin"] == f"hashed:{GOOD}" and len(store.events) == 1


async def test_reset_sets_the_password_and_makes_an_enabled_admin(store: FakeIdentity) -> None:
    deps = cli.IdentityOnly(store, FakeHasher())  # type: ignore[arg-type]
    await cli.create_admin(deps, admin())
    store.states["admin"] = UserState("admin", Role.VIEWER, enabled=False, version=3)
    outcome = await cli.create_admin(deps, admin("plum-harbour-glacier-19", reset=True))
    assert outcome is cli.Outcome.RESET
    assert store.states["admin"].role is Role.ADMIN and store.states["admin"].enabled
    assert store.hashes["admin"] == "hashed:plum-harbour-glacier-19"
    assert [e.type for e in store.events[1:]] == ["user.password_changed", "user.enabled", "user.role_changed"]
    assert {e.actor for e in store.events} == {cli.ACTOR}


async def test_reset_of_an_enabled_admin_changes_only_the_password(store: FakeIdentity) -> None:
    deps = cli.IdentityOnly(store, FakeHasher())  # type: ignore[arg-type]
    await cli.create_admin(deps, admin())
    await cli.create_admin(deps, admin("plum-harbour-glacier-19", reset=True))
    assert [e.type for e in store.events] == ["user.created", "user.password_changed"]
