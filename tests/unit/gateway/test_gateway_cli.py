"""`connect-gateway` command line: serve by default, `create-admin` input rules and its use-case path."""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest

from connect_events import Role
from connect_events.values import username_problem
from connect_gateway import identity
from connect_gateway.domain.identity.passwords import password_problem
from connect_gateway.domain.identity.users import ChangeRole, Disable
from connect_gateway.entrypoints import cli
from connect_gateway.ports import UserRecord
from tests.unit.gateway.identity_fake import FastHasher, InMemoryIdentityStore

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


@pytest.fixture
def store() -> InMemoryIdentityStore:
    return InMemoryIdentityStore()


@pytest.fixture
def deps(store: InMemoryIdentityStore) -> cli.IdentityOnly:
    return cli.IdentityOnly(store, FastHasher())


async def password_is(store: InMemoryIdentityStore, username: str, password: str) -> bool:
    found = await store.password_hash(username)
    return found is not None and FastHasher().verify(password, found[1])[0]


async def user(store: InMemoryIdentityStore, username: str) -> UserRecord:
    found = await store.get_user(username)
    assert found is not None
    return found


def admin(password: str = GOOD, *, reset: bool = False) -> cli.AdminRequest:
    return cli.AdminRequest("admin", password, generated=False, reset=reset)


async def test_creates_an_enabled_admin_as_the_cli_actor(store: InMemoryIdentityStore, deps: cli.IdentityOnly) -> None:
    outcome = await cli.create_admin(deps, admin())
    assert outcome is cli.Outcome.CREATED
    made = await user(store, "admin")
    assert made.role is Role.ADMIN and made.enabled
    assert await password_is(store, "admin", GOOD)
    assert [e.actor for e in store.published] == [cli.ACTOR]


async def test_an_existing_user_is_left_alone_without_reset(
    store: InMemoryIdentityStore, deps: cli.IdentityOnly
) -> None:
    await cli.create_admin(deps, admin())
    assert await cli.create_admin(deps, admin("plum-harbour-glacier-19")) is cli.Outcome.EXISTS
    assert await password_is(store, "admin", GOOD) and len(store.published) == 1


async def test_reset_sets_the_password_and_makes_an_enabled_admin(
    store: InMemoryIdentityStore, deps: cli.IdentityOnly
) -> None:
    await cli.create_admin(deps, admin())
    await identity.create_user(deps, "second", Role.ADMIN, GOOD, "tests")  # so `admin` may lose its role
    await identity.change_user(deps, "admin", ChangeRole(Role.VIEWER), "tests")
    await identity.change_user(deps, "admin", Disable(), "tests")
    store.published.clear()
    outcome = await cli.create_admin(deps, admin("plum-harbour-glacier-19", reset=True))
    assert outcome is cli.Outcome.RESET
    made = await user(store, "admin")
    assert made.role is Role.ADMIN and made.enabled
    assert await password_is(store, "admin", "plum-harbour-glacier-19")
    types = [getattr(e, "type") for e in store.published]  # noqa: B009 - every concrete event has one
    assert types == ["user.password_changed", "user.enabled", "user.role_changed"]
    assert {e.actor for e in store.published} == {cli.ACTOR}


async def test_reset_of_an_enabled_admin_changes_only_the_password(
    store: InMemoryIdentityStore, deps: cli.IdentityOnly
) -> None:
    await cli.create_admin(deps, admin())
    await cli.create_admin(deps, admin("plum-harbour-glacier-19", reset=True))
    types = [getattr(e, "type") for e in store.published]  # noqa: B009 - every concrete event has one
    assert types == ["user.created", "user.password_changed"]
