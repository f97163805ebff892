"""An ASGI middleware in front of the whole audit API that refuses hostile requests before any
route, dependency (authentication included) or body parser sees them:

* a body over ``max_body_bytes`` is a 413: a ``Content-Length`` over the limit is refused before
  a byte is read, and a streamed (chunked) body is counted as it arrives and refused as soon as
  it passes the limit, so at most ``max_body_bytes`` are ever held;
* a JSON body that spells ``NaN``, ``Infinity`` or ``-Infinity`` (Python's ``json`` accepts
  them, JSON does not) is a 422;
* a NUL in the path or the query string (``%00``: PostgreSQL text cannot hold it) is a 422.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import unquote_to_bytes

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class _NotJson(ValueError):
    pass


def _reject_constant(name: str) -> float:
    raise _NotJson(f"{name} is not a JSON number")


async def _answer(send: Send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class RequestLimits:
    def __init__(self, app: ASGIApp, *, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        raw_path = scope.get("raw_path") or scope.get("path", "").encode()
        if b"\x00" in unquote_to_bytes(raw_path) or b"\x00" in unquote_to_bytes(
            scope.get("query_string", b"")
        ):
            await _answer(send, 422, "the path and the query must not contain NUL")
            return
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        if length is not None:
            try:
                declared = int(length)
            except ValueError:
                await _answer(send, 400, "malformed Content-Length")
                return
            if declared > self.max_body_bytes:
                await _answer(send, 413, self._too_large())
                return
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            if len(body) > self.max_body_bytes:
                await _answer(send, 413, self._too_large())
                return
            if not message.get("more_body", False):
                break
        content_type = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
        if body and (content_type == b"application/json" or content_type.endswith(b"+json")):
            try:
                json.loads(body, parse_constant=_reject_constant)
            except _NotJson as exc:
                await _answer(send, 422, f"invalid JSON body: {exc}")
                return
            except ValueError:
                pass  # malformed JSON: the route's parser answers it (422)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": bytes(body), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    def _too_large(self) -> str:
        return (
            f"request body larger than {self.max_body_bytes} bytes (RISKWATCH_API_MAX_BODY_BYTES)"
        )
