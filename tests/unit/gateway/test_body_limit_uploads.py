"""The body limit refuses large bodies, except file uploads, which the files route streams and limits itself."""

from __future__ import annotations

import httpx
from starlette.types import Receive, Scope, Send

from connect_gateway.entrypoints.http.body_limit import BodyLimit


async def _echo_size(scope: Scope, receive: Receive, send: Send) -> None:
    size, more = 0, True
    while more:
        message = await receive()
        size += len(message.get("body", b""))
        more = message.get("more_body", False)
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": str(size).encode()})


async def test_a_file_upload_passes_the_body_limit_and_other_bodies_do_not() -> None:
    transport = httpx.ASGITransport(app=BodyLimit(_echo_size, max_bytes=100))
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
        upload = await client.put("/api/v1/files/upload/a.csv", content=b"x" * 5000)
        other = await client.put("/api/v1/jobs/7", content=b"x" * 5000)
        posted = await client.post("/api/v1/files/upload/a.csv", content=b"x" * 5000)

    assert (upload.status_code, upload.text) == (200, "5000")
    assert other.status_code == 413
    assert posted.status_code == 413
