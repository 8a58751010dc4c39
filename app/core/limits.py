"""Request body limits: 413 before a body larger than allowed is read whole."""

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core.errors import PROBLEM_JSON
from app.core.responses import dumps


class BodySizeLimit:
    """Refuse bodies over the limit: at once by Content-Length, else while they stream.

    It runs before any route, so before authentication: a request without a key is
    refused by its size as any other. Only a POST to one of `bulk_paths` (full paths,
    below the mount point) gets the `bulk` limit; every other request gets `default`.
    """

    def __init__(self, app: ASGIApp, *, default: int, bulk: int,
                 bulk_paths: frozenset[str]) -> None:
        self.app, self.default, self.bulk, self.bulk_paths = app, default, bulk, bulk_paths

    def limit(self, scope: Scope) -> int:
        """The largest body this request may send."""
        if scope["method"] != "POST":
            return self.default
        path, root = scope["path"], scope.get("root_path", "")
        if root and path.startswith(root):
            path = path[len(root):]  # routes match the path below the mount point
        return self.bulk if path in self.bulk_paths else self.default

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit(scope)
        headers = dict(scope["headers"])
        declared = headers.get(b"content-length")
        if declared is None and b"transfer-encoding" not in headers or declared == b"0":
            await self.app(scope, receive, send)  # no body (most GETs): nothing to count
            return
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await self._refuse(scope, send, limit)
            return
        received, refused = 0, False

        async def counted() -> Message:
            nonlocal received, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    # Answer now; to the app the client has gone away.
                    refused = True
                    await self._refuse(scope, send, limit)
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            if not refused:
                await send(message)

        await self.app(scope, counted, guarded_send)

    @staticmethod
    async def _refuse(scope: Scope, send: Send, limit: int) -> None:
        body = dumps({"type": "/problems/payload-too-large", "title": "Payload too large",
                      "status": 413, "detail": _detail(limit), "instance": scope["path"]})
        await send({"type": "http.response.start", "status": 413, "headers": [
            (b"content-type", PROBLEM_JSON.encode()), (b"content-length", str(len(body)).encode()),
            (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})


def _detail(limit: int) -> str:
    return f"the request body is larger than {limit:,} bytes"
