"""The REST client under the `connect` command: where Connect is, the credential, and the API's errors in words.

The credential is an API token: `connect login` asks the gateway for one with a user's password and keeps it in
the configuration file (mode 0600); `CONNECT_URL` and `CONNECT_TOKEN` override the file, for scripts and CI.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx

DEFAULT_URL = "http://127.0.0.1:8080"
TIMEOUT_S = 30.0


class CliError(Exception):
    """A failure the command reports in one sentence and exits 1 for."""


@dataclass(frozen=True)
class Settings:
    """Where Connect answers and the API token to send (empty before `connect login`)."""

    url: str = DEFAULT_URL
    token: str = ""
    token_id: str = ""
    username: str = ""


def config_path() -> Path:
    """`CONNECT_CONFIG`, or `connect/config.json` under the user's configuration folder."""
    explicit = os.environ.get("CONNECT_CONFIG")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "connect" / "config.json"


def load_settings() -> Settings:
    """The saved settings with `CONNECT_URL` / `CONNECT_TOKEN` laid over them."""
    saved: dict[str, str] = {}
    path = config_path()
    if path.exists():
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise CliError(f"cannot read the configuration file {path}; log in again to rewrite it") from exc
        if isinstance(raw, dict):
            saved = {k: v for k, v in raw.items() if k in Settings.__dataclass_fields__ and isinstance(v, str)}
    settings = Settings(**saved)
    url = os.environ.get("CONNECT_URL") or settings.url
    token = os.environ.get("CONNECT_TOKEN")
    if token:
        return Settings(url=url, token=token, username=settings.username)
    return Settings(url=url, token=settings.token, token_id=settings.token_id, username=settings.username)


def save_settings(settings: Settings) -> Path:
    """Write the settings readable by the user only; returns the file."""
    path = config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump(asdict(settings), out, indent=2)
    os.chmod(path, 0o600)
    return path


def forget_settings() -> None:
    """Remove the saved token (the URL stays)."""
    path = config_path()
    if path.exists():
        saved = load_settings()
        save_settings(Settings(url=saved.url))


def problem(response: httpx.Response) -> str:
    """The gateway's own sentence for a refused request, with the fields it names."""
    try:
        body = response.json()
    except ValueError:
        return f"Connect answered {response.status_code}"
    if not isinstance(body, dict) or not isinstance(body.get("message"), str):
        return f"Connect answered {response.status_code}"
    message: str = body["message"]
    errors = body.get("errors") or []
    details = [f"{e.get('field')}: {e.get('message')}" for e in errors if isinstance(e, dict) and e.get("field")]
    if details and not message.startswith("invalid request"):
        message += " (" + "; ".join(details) + ")"
    return message


class Api:
    """Calls the gateway with the token; every refusal becomes a `CliError` in the gateway's words."""

    def __init__(self, settings: Settings, client: httpx.Client | None = None) -> None:
        self.settings = settings
        headers = {"Authorization": f"Bearer {settings.token}"} if settings.token else {}
        self._client = client or httpx.Client(base_url=settings.url, headers=headers, timeout=TIMEOUT_S)

    def __enter__(self) -> Api:
        return self

    def __exit__(self, *_: object) -> None:
        self._client.close()

    def request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        params: Mapping[str, Any] | None = None,
        content: bytes | Iterator[bytes] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        response = self._send(method, path, json_body=json_body, params=params, content=content, headers=headers)
        if response.status_code == 401 and self.settings.token:
            raise CliError("not logged in, or the token expired or was revoked: run `connect login`")
        if response.status_code >= 400:
            raise CliError(problem(response))
        return response

    def get(self, path: str, **params: Any) -> Any:
        clean = {k: v for k, v in params.items() if v is not None}
        return self.request("GET", path, params=clean).json()

    def find(self, path: str) -> Any:
        """GET `path`, or None while it does not exist (404): what was just requested may not show yet."""
        response = self._send("GET", path)
        if response.status_code == 404:
            return None
        if response.status_code >= 400:
            raise CliError(problem(response))
        return response.json()

    def _send(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        params: Mapping[str, Any] | None = None,
        content: bytes | Iterator[bytes] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """One request; a transport failure becomes a `CliError` naming the address, never the library's text."""
        try:
            return self._client.request(method, path, json=json_body, params=params, content=content, headers=headers)
        except httpx.TimeoutException as exc:
            raise CliError(f"Connect at {self.settings.url} did not answer in {TIMEOUT_S:.0f} s") from exc
        except httpx.HTTPError as exc:
            raise CliError(f"cannot reach Connect at {self.settings.url}") from exc

    def post(self, path: str, body: Any = None) -> Any:
        return self.request("POST", path, json_body=body).json()

    def put(self, path: str, body: Any) -> Any:
        return self.request("PUT", path, json_body=body).json()

    def stream_to(self, path: str, target: Path) -> int:
        """Download `path` into `target` (written beside it, then renamed); returns the bytes written."""
        partial = target.with_name(f".{target.name}.part")
        written = 0
        try:
            with self._client.stream("GET", path) as response:
                if response.status_code >= 400:
                    response.read()
                    raise CliError(problem(response))
                with partial.open("wb") as out:
                    for chunk in response.iter_bytes():
                        out.write(chunk)
                        written += len(chunk)
        except httpx.HTTPError as exc:
            partial.unlink(missing_ok=True)
            raise CliError(f"the download from {self.settings.url} broke off") from exc
        partial.replace(target)
        return written


def login(url: str, username: str, password: str, token_name: str) -> Settings:
    """Log in with a password, issue an API token named `token_name` with the session, and log the session out."""
    with httpx.Client(base_url=url, timeout=TIMEOUT_S) as client:
        api = Api(Settings(url=url), client)
        session = api.request("POST", "/api/v1/auth/login", json_body={"username": username, "password": password})
        csrf = {"X-CSRF-Token": session.json().get("csrf_token") or ""}
        issued = api.request("POST", "/api/v1/tokens", json_body={"name": token_name}, headers=csrf).json()
        api.request("POST", "/api/v1/auth/logout", headers=csrf)
    return Settings(url=url, token=issued["token"], token_id=issued["token_id"], username=username)
