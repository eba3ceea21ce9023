"""The floor of a Python hop on this machine, for ``bench middleware``: an ASGI app that
forwards each GET to one upstream and returns its answer as it came, with uvicorn and
aiohttp as the middleware has them and nothing else (no token check, no log line, no
breaker, no transformation). Never part of the running system.

The middleware's overhead target compares it with a direct call; this shows how much of
that any Python hop costs before the middleware does its work.
"""

from __future__ import annotations

import os
from typing import Any

import aiohttp

UPSTREAM = "MEDSYS_BARE_PROXY_UPSTREAM"  # the base URL every path is forwarded to


class BareProxy:
    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.client: aiohttp.ClientSession | None = None

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        query = scope.get("query_string", b"").decode()
        url = self.upstream + scope["path"] + (f"?{query}" if query else "")
        authorization = dict(scope["headers"]).get(b"authorization", b"").decode()
        assert self.client is not None
        async with self.client.get(url, headers={"Authorization": authorization}) as answer:
            body = await answer.read()
            status = answer.status
        headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def _lifespan(self, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                connector = aiohttp.TCPConnector(keepalive_timeout=1.0)
                self.client = aiohttp.ClientSession(connector=connector)
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self.client is not None:
                    await self.client.close()
                await send({"type": "lifespan.shutdown.complete"})
                return


def create_app() -> BareProxy:
    return BareProxy(os.environ[UPSTREAM])
