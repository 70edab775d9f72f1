"""`make up`'s admin password file, demo token and banner, without starting anything."""

from __future__ import annotations

import stat
from datetime import UTC, datetime, timedelta
from email.message import Message
from pathlib import Path
from typing import Any

import pytest

from connect_devstack import app, demo, services

URL = "http://127.0.0.1:8080"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_admin_password_is_made_once_and_kept_owner_only(tmp_path: Path) -> None:
    password, fresh = app.admin_password(tmp_path)
    assert fresh and len(password) == 24
    assert mode(tmp_path / app.ADMIN_PASSWORD_FILE) == 0o600
    assert app.admin_password(tmp_path) == (password, False)


def test_a_blank_password_file_is_made_again(tmp_path: Path) -> None:
    (tmp_path / app.ADMIN_PASSWORD_FILE).write_text("\n")
    password, fresh = app.admin_password(tmp_path)
    assert fresh and password
    assert app.read_secret(tmp_path / app.ADMIN_PASSWORD_FILE) == password


def test_a_secret_replaces_a_wider_readable_file(tmp_path: Path) -> None:
    path = tmp_path / "demo.token"
    path.write_text("old")
    path.chmod(0o644)
    app.write_secret(path, "new")
    assert (path.read_text(), mode(path)) == ("new\n", 0o600)


def test_a_generated_password_never_holds_the_user_name(monkeypatch: pytest.MonkeyPatch) -> None:
    made = iter(["xxxxADMINxxxxxxxxxxxxxxx", "aaaaaaaaaaaaaaaaaaaaaaaa", "q7Rz-k2Lp9_wXc4Vb8Nm3Hs1"])
    monkeypatch.setattr(app.secrets, "token_urlsafe", lambda n: next(made))
    assert app.generate_password("admin") == "q7Rz-k2Lp9_wXc4Vb8Nm3Hs1"


@pytest.mark.parametrize("reset", [False, True])
def test_create_admin_reads_the_password_from_the_file_never_argv(reset: bool, tmp_path: Path) -> None:
    argv = services.create_admin_argv("admin", tmp_path / "admin.password", reset=reset)
    assert argv[1:] == [
        "-m",
        "connect_gateway",
        "create-admin",
        "--username",
        "admin",
        "--password-file",
        str(tmp_path / "admin.password"),
        *(["--reset-password"] if reset else []),
    ]


def test_a_new_password_file_resets_an_existing_admin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[bool] = []
    monkeypatch.setattr(app.services, "create_admin", lambda env, user, path, *, reset: calls.append(reset))
    first = app.ensure_admin(tmp_path, {})
    assert app.ensure_admin(tmp_path, {}) == first
    assert calls == [True, False]


def test_a_kept_token_is_reused_while_the_gateway_accepts_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    app.write_secret(tmp_path / app.DEMO_TOKEN_FILE, "cnt_kept")
    monkeypatch.setattr(demo, "token_valid", lambda url, token: token == "cnt_kept")
    monkeypatch.setattr(demo, "login", _never)
    assert app.demo_token(tmp_path, URL, "pw") == "cnt_kept"


def test_a_new_token_is_issued_when_the_kept_one_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    app.write_secret(tmp_path / app.DEMO_TOKEN_FILE, "cnt_old")
    issued: list[tuple[str, datetime]] = []
    session = demo.Session("sid", "csrf")

    def issue(url: str, used: demo.Session, name: str, expires_at: datetime) -> str:
        assert used == session
        issued.append((name, expires_at))
        return "cnt_new"

    monkeypatch.setattr(demo, "token_valid", lambda url, token: False)
    monkeypatch.setattr(demo, "login", lambda url, *login: session if login == ("admin", "pw") else None)
    monkeypatch.setattr(demo, "issue_token", issue)
    monkeypatch.setattr(demo, "logout", lambda url, used: None)
    assert app.demo_token(tmp_path, URL, "pw") == "cnt_new"
    assert app.read_secret(tmp_path / app.DEMO_TOKEN_FILE) == "cnt_new"
    assert mode(tmp_path / app.DEMO_TOKEN_FILE) == 0o600
    [(name, expires_at)] = issued
    assert name == "make up demo"
    assert abs(expires_at - (datetime.now(UTC) + timedelta(days=30))) < timedelta(minutes=1)


def test_a_failed_login_says_how_to_reset(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(demo, "login", _refused)
    with pytest.raises(RuntimeError, match=r"delete .*admin\.password and run make up again"):
        app.demo_token(tmp_path, URL, "pw")


def test_login_keeps_the_session_cookie_and_csrf_token(monkeypatch: pytest.MonkeyPatch) -> None:
    headers = Message()
    headers["Set-Cookie"] = "connect_session=sid123; HttpOnly; Max-Age=43200; Path=/; SameSite=lax"
    headers["Set-Cookie"] = "connect_csrf=csrf456; Max-Age=43200; Path=/; SameSite=lax"
    sent: list[Any] = []

    def send(*args: Any) -> tuple[int, Any, Message]:
        sent.append(args)
        return 200, {"username": "admin", "role": "admin", "csrf_token": "csrf456"}, headers

    monkeypatch.setattr(demo, "_send", send)
    session = demo.login(URL, "admin", "pw")
    assert session == demo.Session("sid123", "csrf456")
    assert session.headers() == {"Cookie": "connect_session=sid123", "X-CSRF-Token": "csrf456"}
    assert sent[0][1:4] == ("POST", "/api/v1/auth/login", {"username": "admin", "password": "pw"})


def test_the_banner_shows_the_login_the_token_and_the_demo_commands(tmp_path: Path) -> None:
    text = app._banner(URL, "127.0.0.1:2222", tmp_path, app.Access("pw-123", "cnt_tok"), (7, 8), tmp_path / "sftp", 1.0)
    assert (
        f"Hosted SFTP   127.0.0.1:2222  (log in as a Connect user with a key registered at {URL}/api/v1/ssh-keys;"
        in text
    )
    assert f"Login         admin / pw-123  (password kept in {tmp_path / 'admin.password'})" in text
    assert "export CONNECT_TOKEN=cnt_tok" in text
    assert f'curl -s -H "Authorization: Bearer $CONNECT_TOKEN" -X POST {URL}/api/v1/jobs/7/run' in text
    assert f"RESPONSYS_LOGIN_URL={URL} RESPONSYS_USER=admin RESPONSYS_PASSWORD='pw-123'" in text
    assert "python3 tests/scripts/responsys_connect_jobs.py 7 8" in text


def _never(*args: object) -> demo.Session:
    raise AssertionError("no login expected")


def _refused(*args: object) -> demo.Session:
    raise RuntimeError("logging in as admin failed: 401")


def test_a_new_password_that_could_not_be_set_is_not_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def refused(env: object, user: str, path: Path, *, reset: bool) -> None:
        raise RuntimeError("creating the admin admin failed (exit 1)")

    monkeypatch.setattr(app.services, "create_admin", refused)
    with pytest.raises(RuntimeError):
        app.ensure_admin(tmp_path, {})
    assert not (tmp_path / app.ADMIN_PASSWORD_FILE).exists()


def test_the_vault_key_is_made_once_owner_only(tmp_path: Path) -> None:
    key = app.vault_key(tmp_path)
    assert app.vault_key(tmp_path) == key
    assert (tmp_path / app.VAULT_KEY_FILE).stat().st_mode & 0o777 == 0o600
