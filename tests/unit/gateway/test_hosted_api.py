"""`/api/v1/files`, `/api/v1/folders` and `/api/v1/ssh-keys` over the fakes, under the app's access rules."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from uuid import UUID

import asyncssh
import pytest

from connect_events import Role
from connect_gateway.files import tree
from connect_gateway.files.ports import HostedDeps
from connect_runtime.hosted_files import ensure_account
from tests.unit.gateway.gateway_fakes import USERS, World
from tests.unit.gateway.test_ssh_keys_store import InMemorySshKeys, public_line

LIMIT = 1000  # bytes an upload may have here


@pytest.fixture
async def hosted(world: World, tmp_path: Path) -> HostedDeps:
    root = tmp_path / "account"
    ensure_account(root)
    deps = HostedDeps(keys=InMemorySshKeys(world.identity), root=root, max_upload_bytes=LIMIT)
    world.app.state.hosted = deps
    return deps


async def test_an_operator_uploads_lists_downloads_and_deletes_a_file(world: World, hosted: HostedDeps) -> None:
    async with world.client_as(Role.OPERATOR) as otto:
        created = await otto.put("/api/v1/files/upload/a b.csv", content=b"id;name\n1;x\n")
        replaced = await otto.put("/api/v1/files/upload/a b.csv", content=b"id;name\n2;y\n")
        listed = await otto.get("/api/v1/files", params={"folder": "upload"})
        got = await otto.get("/api/v1/files/upload/a b.csv")
        deleted = await otto.delete("/api/v1/files/upload/a b.csv")
        gone = await otto.get("/api/v1/files/upload/a b.csv")
    assert (created.status_code, replaced.status_code) == (201, 200), created.text
    assert created.headers["Location"] == "/api/v1/files/upload/a%20b.csv"
    assert created.json()["path"] == "upload/a b.csv" and replaced.json()["size"] == 12
    assert [(f["name"], f["size"], f["is_folder"]) for f in listed.json()] == [("a b.csv", 12, False)]
    assert (got.status_code, got.content) == (200, b"id;name\n2;y\n")
    assert got.headers["Content-Disposition"] == "attachment; filename*=UTF-8''a%20b.csv"
    assert (deleted.status_code, gone.status_code) == (204, 404)
    assert gone.json()["message"] == "upload/a b.csv not found"


async def test_a_streamed_upload_over_the_limit_is_refused_and_leaves_nothing(world: World, hosted: HostedDeps) -> None:
    async def body() -> AsyncIterator[bytes]:
        for _ in range(3):
            yield b"x" * 400  # no Content-Length: refused while counting

    async with world.client_as(Role.OPERATOR) as otto:
        declared = await otto.put("/api/v1/files/upload/big.csv", content=b"x" * (LIMIT + 1))
        streamed = await otto.put("/api/v1/files/upload/big.csv", content=body())
        exact = await otto.put("/api/v1/files/upload/ok.csv", content=b"x" * LIMIT)
    for refused in (declared, streamed):
        assert refused.status_code == 413
        assert refused.json()["message"] == f"the file is larger than the {LIMIT} bytes the file server takes"
    assert exact.status_code == 201
    assert sorted(p.name for p in (hosted.root / "upload").iterdir()) == ["ok.csv"]


async def test_a_viewer_reads_but_cannot_change_files(world: World, hosted: HostedDeps) -> None:
    (hosted.root / "download" / "out.csv").write_bytes(b"1\n")
    async with world.client_as(Role.VIEWER) as vera:
        read = await vera.get("/api/v1/files/download/out.csv")
        refused = [
            await vera.put("/api/v1/files/upload/a.csv", content=b"x"),
            await vera.delete("/api/v1/files/download/out.csv"),
            await vera.post("/api/v1/folders", json={"path": "upload/crm"}),
        ]
    assert read.content == b"1\n"
    assert [r.status_code for r in refused] == [403] * 3
    assert tree.may_write(Role.VIEWER) is False  # the SFTP server applies the same rule


@pytest.mark.parametrize(
    ("method", "url", "field"),
    [
        ("GET", "/api/v1/files/upload/%2E%2E/%2E%2E/etc/passwd", "path"),
        ("PUT", "/api/v1/files/upload/%2E%2E/x.csv", "path"),
        ("DELETE", "/api/v1/files/upload//a.csv", "path"),
        ("GET", "/api/v1/files?folder=/etc", "folder"),
        ("GET", "/api/v1/files?folder=upload/..", "folder"),
    ],
)
async def test_paths_that_could_leave_the_root_are_refused_naming_the_field(
    world: World, hosted: HostedDeps, method: str, url: str, field: str
) -> None:
    answer = await world.client.request(method, url, content=b"x" if method == "PUT" else None)
    assert answer.status_code == 422, answer.text
    assert [e["field"] for e in answer.json()["errors"]] == [field]


async def test_a_link_planted_in_the_tree_is_not_followed(world: World, hosted: HostedDeps, tmp_path: Path) -> None:
    (tmp_path / "secret.txt").write_bytes(b"secret")
    (hosted.root / "upload" / "s.txt").symlink_to(tmp_path / "secret.txt")
    (hosted.root / "upload" / "out").symlink_to(tmp_path)
    answers = [
        await world.client.get("/api/v1/files/upload/s.txt"),
        await world.client.get("/api/v1/files/upload/out/secret.txt"),
        await world.client.put("/api/v1/files/upload/out/new.txt", content=b"x"),
        await world.client.get("/api/v1/files", params={"folder": "upload/out"}),
    ]
    assert [a.status_code for a in answers] == [422] * 4
    assert "symbolic link" in answers[0].json()["message"] and b"secret" not in answers[0].content
    assert not (tmp_path / "new.txt").exists()


async def test_folders_are_created_listed_and_removed_when_empty(world: World, hosted: HostedDeps) -> None:
    client = world.client
    created = await client.post("/api/v1/folders", json={"path": "upload/crm"})
    again = await client.post("/api/v1/folders", json={"path": "upload/crm"})
    orphan = await client.post("/api/v1/folders", json={"path": "upload/none/x"})
    await client.put("/api/v1/files/upload/crm/a.csv", content=b"x")
    not_empty = await client.delete("/api/v1/files/upload/crm")
    standard = await client.delete("/api/v1/files/upload")
    root = await client.get("/api/v1/files")
    assert (created.status_code, again.status_code, orphan.status_code) == (201, 409, 404)
    assert created.headers["Location"] == "/api/v1/files?folder=upload/crm"
    assert (not_empty.status_code, standard.status_code) == (409, 409)
    assert [f["name"] for f in root.json()] == ["archive", "download", "upload"]


async def test_users_register_list_and_remove_their_own_keys(world: World, hosted: HostedDeps) -> None:
    line = public_line()
    async with world.client_as(Role.VIEWER) as vera, world.client_as(Role.OPERATOR) as otto:
        registered = await vera.post("/api/v1/ssh-keys", json={"label": "laptop", "public_key": line})
        key_id = registered.json()["key_id"]
        own = await vera.get("/api/v1/ssh-keys")
        others = await otto.get("/api/v1/ssh-keys")
        foreign = await otto.delete(f"/api/v1/ssh-keys/{key_id}")
        peek = await otto.get("/api/v1/ssh-keys", params={"username": USERS[Role.VIEWER]})
        twice = await otto.post("/api/v1/ssh-keys", json={"label": "copy", "public_key": line})
        removed = await vera.delete(f"/api/v1/ssh-keys/{key_id}")
        after = await vera.get("/api/v1/ssh-keys")
    assert registered.status_code == 201, registered.text
    body = registered.json()
    assert (body["username"], body["label"], body["algorithm"], body["bits"]) == ("vera", "laptop", "ssh-ed25519", 256)
    assert body["fingerprint"] == asyncssh.import_public_key(line).get_fingerprint("sha256")
    assert [k["key_id"] for k in own.json()] == [key_id] and others.json() == []
    assert (foreign.status_code, peek.status_code) == (404, 403)
    assert twice.status_code == 409 and twice.json()["errors"][0]["field"] == "public_key"
    assert (removed.status_code, after.json()) == (204, [])


async def test_an_admin_sees_and_removes_anyones_keys_and_registers_for_others(
    world: World, hosted: HostedDeps
) -> None:
    async with world.client_as(Role.OPERATOR) as otto:
        mine = (await otto.post("/api/v1/ssh-keys", json={"label": "ci", "public_key": public_line()})).json()
        for_vera = await otto.post(
            "/api/v1/ssh-keys", json={"label": "x", "public_key": public_line(), "username": "vera"}
        )
    given = await world.client.post(
        "/api/v1/ssh-keys", json={"label": "x", "public_key": public_line(), "username": "vera"}
    )
    every = await world.client.get("/api/v1/ssh-keys", params={"all": "true"})
    removed = await world.client.delete(f"/api/v1/ssh-keys/{mine['key_id']}")
    assert (for_vera.status_code, given.status_code) == (403, 201)
    assert sorted(k["username"] for k in every.json()) == ["otto", "vera"]
    assert removed.status_code == 204 and await hosted.keys.get(UUID(mine["key_id"])) is None


@pytest.mark.parametrize(
    ("public_key", "message"),
    [
        ("ssh-ed25519 AAAA-not-a-key secret-comment", "must be one OpenSSH public key line"),
        ("rsa-1024", "is an RSA key of 1024 bits; RSA keys must have at least 2048"),
        ("ecdsa", "must be an Ed25519 key or an RSA key of at least 2048 bits"),
    ],
)
async def test_a_key_that_is_refused_names_public_key_and_never_echoes_it(
    world: World, hosted: HostedDeps, public_key: str, message: str
) -> None:
    generated = {
        "rsa-1024": lambda: asyncssh.generate_private_key("ssh-rsa", key_size=1024),
        "ecdsa": lambda: asyncssh.generate_private_key("ecdsa-sha2-nistp256"),
    }
    if public_key in generated:
        public_key = generated[public_key]().export_public_key("openssh").decode()
    answer = await world.client.post("/api/v1/ssh-keys", json={"label": "x", "public_key": public_key})
    assert answer.status_code == 422
    [error] = answer.json()["errors"]
    assert error["field"] == "public_key" and error["message"].startswith(message)
    assert public_key.split()[1][:20] not in answer.text


async def test_a_key_for_a_disabled_or_unknown_user_is_refused(world: World, hosted: HostedDeps) -> None:
    answer = await world.client.post(
        "/api/v1/ssh-keys", json={"label": "x", "public_key": public_line(), "username": "nobody"}
    )
    assert answer.status_code == 409 and answer.json()["message"] == "user nobody does not exist or is disabled"


async def test_without_the_file_server_wired_the_routes_answer_unavailable(world: World, hosted: HostedDeps) -> None:
    del world.app.state.hosted
    answer = await world.client.get("/api/v1/files")
    assert answer.status_code == 503
