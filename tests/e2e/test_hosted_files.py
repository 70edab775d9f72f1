"""The hosted file server in the running gateway: a key registered over the API logs in with the stock OpenSSH
client, and a file put over SFTP comes back over the REST API."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

import asyncssh
import httpx

from connect_devstack.services import Services
from tests.e2e.conftest import ADMIN


async def test_a_key_registered_over_the_api_logs_in_and_its_upload_downloads_over_rest(
    services: Services, api: httpx.AsyncClient, tmp_path: Path
) -> None:
    key = asyncssh.generate_private_key("ssh-ed25519")
    private = tmp_path / "id_e2e"
    private.write_bytes(key.export_private_key("openssh"))
    private.chmod(0o600)
    public = key.export_public_key("openssh").decode().strip()
    registered = await api.post("/api/v1/ssh-keys", json={"label": "e2e", "public_key": public})
    assert registered.status_code == 201, registered.text
    (tmp_path / "stores.csv").write_text("id,name\n1,Lyon\n")
    (tmp_path / "batch").write_text("cd upload\nput stores.csv e2e-stores.csv\nls\n")

    session = await asyncio.to_thread(
        subprocess.run,
        [
            "sftp", "-b", "batch", "-F", "/dev/null", "-i", str(private), "-P", services.env["GATEWAY_SFTP_PORT"],
            "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "IdentitiesOnly=yes",
            "-o", "BatchMode=yes", "-o", "LogLevel=ERROR", f"{ADMIN}@127.0.0.1",
        ],
        cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip

    assert session.returncode == 0, session.stderr
    downloaded = await api.get("/api/v1/files/upload/e2e-stores.csv")
    assert (downloaded.status_code, downloaded.text) == (200, "id,name\n1,Lyon\n")
    listed = await api.get("/api/v1/files", params={"folder": "upload"})
    assert "e2e-stores.csv" in [entry["name"] for entry in listed.json()]
