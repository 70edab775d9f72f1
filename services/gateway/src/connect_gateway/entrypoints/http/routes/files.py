"""`/api/v1/files` and `/api/v1/folders`: the hosted file server's tree over HTTP, streamed both ways.

An upload is received in pieces and written to a hidden temporary file beside its target, renamed into place
once complete (never held in memory whole, never seen half-written); its size is capped by the setting the
process was given. A download streams the file it opened, so a replacement arriving meanwhile is not mixed in.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import asdict
from typing import Annotated, Any, BinaryIO
from urllib.parse import quote
from uuid import uuid4

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.background import BackgroundTask

from connect_gateway.domain.errors import Refusal
from connect_gateway.entrypoints.http.fields import HostedPath
from connect_gateway.entrypoints.http.file_schemas import FileOut, FolderIn
from connect_gateway.entrypoints.http.hosted import HostedDep, tree_errors
from connect_gateway.entrypoints.http.outcomes import COMMON_RESPONSES, json_response
from connect_gateway.entrypoints.http.schemas import ErrorBody
from connect_gateway.files import area

router = APIRouter(prefix="/api/v1", tags=["files"], responses=COMMON_RESPONSES)

WRITE_CHUNK_BYTES = 1024 * 1024  # what an upload gathers before each write to disk
READ_CHUNK_BYTES = 256 * 1024  # what a download reads per piece
_ERROR = {"model": ErrorBody}
FILE_ERRORS: dict[int | str, dict[str, Any]] = {
    404: {**_ERROR, "description": "No such file or folder"},
    409: {**_ERROR, "description": "A folder where a file is expected (or the reverse), or a standard folder"},
}
PathValue = Annotated[HostedPath, Path(description="The file's path under the account's root, e.g. upload/a.csv")]


def file_out(found: area.Entry) -> FileOut:
    """The API form of a file or folder."""
    return FileOut(**asdict(found))


def file_url(path: str) -> str:
    """Where a file can be downloaded."""
    return f"/api/v1/files/{quote(path)}"


@router.get("/files", responses=FILE_ERRORS)
async def list_files(
    hosted: HostedDep,
    folder: Annotated[HostedPath | None, Query(description="A folder, e.g. upload; the root when absent")] = None,
) -> list[FileOut]:
    """The files and folders of a folder, by name."""
    with tree_errors("folder"):
        found = await asyncio.to_thread(area.list_folder, hosted.root, folder)
    return [file_out(e) for e in found]


@router.put(
    "/files/{path:path}",
    response_model=None,
    responses={
        200: {"model": FileOut, "description": "Replaced"},
        201: {"model": FileOut, "description": "Created"},
        **FILE_ERRORS,
        413: {**_ERROR, "description": "The file is larger than the server takes"},
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
        }
    },
)
async def upload_file(path: PathValue, request: Request, hosted: HostedDep) -> JSONResponse:
    """Upload a file (the request body, as it is) into an existing folder; an existing file is replaced whole."""
    limit = hosted.max_upload_bytes
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    with tree_errors("path"):
        upload = await asyncio.to_thread(area.Upload, hosted.root, path, uuid4().hex)
    try:
        with tree_errors("path"):
            await _receive(request, upload, limit)
            found, created = await asyncio.to_thread(upload.finish)
    except BaseException:
        await asyncio.to_thread(upload.abort)
        raise
    return json_response(file_out(found), 201 if created else 200, file_url(path))


async def _receive(request: Request, upload: area.Upload, limit: int) -> None:
    """Write the body to `upload` in pieces of about `WRITE_CHUNK_BYTES`; refuse it past `limit` bytes."""
    pending = bytearray()
    async for chunk in request.stream():
        if upload.size + len(pending) + len(chunk) > limit:
            raise _too_large(limit)
        pending += chunk
        if len(pending) >= WRITE_CHUNK_BYTES:
            await asyncio.to_thread(upload.write, bytes(pending))
            pending.clear()
    if pending:
        await asyncio.to_thread(upload.write, bytes(pending))


def _too_large(limit: int) -> Refusal:
    return Refusal("payload_too_large", f"the file is larger than the {limit} bytes the file server takes")


@router.get(
    "/files/{path:path}",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/octet-stream": {}}, "description": "The file"}, **FILE_ERRORS},
)
async def download_file(path: PathValue, hosted: HostedDep) -> StreamingResponse:
    """Download a file."""
    with tree_errors("path"):
        handle, size = await asyncio.to_thread(area.open_file, hosted.root, path)
    name = path.rstrip("/").rsplit("/", 1)[-1]
    headers = {"Content-Length": str(size), "Content-Disposition": f"attachment; filename*=UTF-8''{quote(name)}"}
    # The task closes the file when the response ends early too (a client gone before the first piece).
    return StreamingResponse(
        _pieces(handle), media_type="application/octet-stream", headers=headers, background=BackgroundTask(handle.close)
    )


async def _pieces(handle: BinaryIO) -> AsyncIterator[bytes]:
    try:
        while piece := await asyncio.to_thread(handle.read, READ_CHUNK_BYTES):
            yield piece
    finally:
        handle.close()


@router.delete("/files/{path:path}", status_code=204, response_class=Response, responses=FILE_ERRORS)
async def delete_file(path: PathValue, hosted: HostedDep) -> Response:
    """Delete a file or an empty folder (not upload/, download/ or archive/)."""
    with tree_errors("path"):
        await asyncio.to_thread(area.remove, hosted.root, path)
    return Response(status_code=204)


@router.post(
    "/folders",
    status_code=201,
    response_model=None,
    responses={201: {"model": FileOut, "description": "Created"}, **FILE_ERRORS},
)
async def create_folder(body: FolderIn, hosted: HostedDep) -> JSONResponse:
    """Create a folder inside an existing one."""
    with tree_errors("path"):
        found = await asyncio.to_thread(area.make_folder, hosted.root, body.path)
    return json_response(file_out(found), 201, f"/api/v1/files?folder={quote(found.path)}")
