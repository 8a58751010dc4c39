"""HEAD on every GET route (RFC 9110 §9.3.2): the GET's status and headers, no body.

One ASGI layer rather than a HEAD operation beside each GET: the routes,
the OpenAPI document and `ConditionalGet` (ETag, 304) all see a GET, so HEAD cannot drift
from what GET answers, and routes added later get it too.
"""

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class HeadAsGet:
    """Run a HEAD request as its GET and send the GET's start (status, headers) only."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return
        ended = False

        async def headers_only(message: Message) -> None:
            nonlocal ended
            if message["type"] != "http.response.body":
                await send(message)
            elif not ended:
                # The answer ends at the first body message: a client waits for no more,
                # even while a streamed export goes on producing bytes nobody is sent.
                ended = True
                await send({"type": "http.response.body", "body": b"", "more_body": False})

        # The scope is changed in place, not copied: the route the router records on it
        # must reach the request log and metrics, which read it from the same dict, and
        # they must see the method the client sent, so it is put back afterwards.
        scope["method"] = "GET"
        try:
            await self.app(scope, receive, headers_only)
        finally:
            scope["method"] = "HEAD"
