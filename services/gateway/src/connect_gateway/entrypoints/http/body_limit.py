"""Refuse request bodies over a size limit with 413, before any route reads them.

The body is read here (up to the limit) and handed on whole: a route then never sees a truncated body,
and an oversized one is refused whether it declared its length or came chunked. File uploads
(`PUT /api/v1/files/…`) pass through unread: the route streams them to disk under its own, larger limit.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from connect_gateway.entrypoints.http.errors import answer

STREAMED_UPLOADS = "/api/v1/files/"


class BodyLimit:
    """ASGI middleware: 413 `payload_too_large` for a body over `max_bytes`."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or _streamed(scope):
            await self.app(scope, receive, send)
            return
        if self._declared_length(scope) > self.max_bytes:
            await self._refuse(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                # The client went away: let the app see that as it would have.
                await self.app(scope, _replay([message], receive), send)
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._refuse(scope, receive, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body: Message = {"type": "http.request", "body": b"".join(chunks), "more_body": False}
        await self.app(scope, _replay([body], receive), send)

    @staticmethod
    def _declared_length(scope: Scope) -> int:
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    return int(value)
                except ValueError:
                    return 0  # the server refuses a malformed length itself; counting still applies
        return 0

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        limit = f"{self.max_bytes} bytes" + (f" ({self.max_bytes // 1024} KiB)" if self.max_bytes >= 1024 else "")
        response = answer(str(scope.get("path", "")), "payload_too_large", f"the request body is larger than {limit}")
        # The unread rest of the body is the server's to discard (it closes the connection).
        await response(scope, receive, send)


def _streamed(scope: Scope) -> bool:
    """An upload the files route streams and limits itself."""
    return scope.get("method") == "PUT" and str(scope.get("path", "")).startswith(STREAMED_UPLOADS)


def _replay(messages: list[Message], receive: Receive) -> Receive:
    """`receive` that first returns `messages`, then defers to the server's (for the disconnect)."""
    pending = list(messages)

    async def replayed() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replayed
