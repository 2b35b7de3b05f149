"""Real HTTP servers on loopback for tests that need a socket between the two services.

`serve(app)` runs uvicorn as a task of the test's own event loop (the suite shares one loop),
on a port the kernel picked, and yields its base URL; leaving the block shuts it down cleanly
(lifespan included). `Delayed` wraps an ASGI app to make it slow on /v1 and counts the calls
that reached it: the real recommender, answering late.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from typing import Any

import uvicorn

Scope = dict[str, Any]


class Delayed:
    def __init__(self, app: Any, delay_s: float = 0.0) -> None:
        self.app = app
        self.delay_s = delay_s
        self.calls = 0

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/v1/"):
            self.calls += 1
            if self.delay_s:
                await asyncio.sleep(self.delay_s)
        await self.app(scope, receive, send)


def free_port() -> int:
    """A port with nothing listening (bound then released: only this suite picks ports)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """One uvicorn server in this loop; `start()` / `stop()` may alternate (same port)."""

    def __init__(
        self, app: Any, port: int | None = None, *, lifespan: str = "on", **options: Any
    ) -> None:
        """`lifespan="off"` for an app whose lifespan the test already runs (the catalog `app`
        fixture); `options`: more uvicorn.Config arguments (proxy_headers, forwarded_allow_ips…)."""
        self.app = app
        self.lifespan = lifespan
        self.port = port or free_port()
        self._options = options
        self.url = f"http://127.0.0.1:{self.port}"
        self._server: uvicorn.Server | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self, timeout_s: float = 30.0) -> Server:
        config = uvicorn.Config(
            self.app,
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            lifespan=self.lifespan,
            **self._options,
        )
        self._server = uvicorn.Server(config)
        # Signal handlers belong to the test runner, not to a server inside it.
        self._server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
        self._task = asyncio.create_task(self._server.serve())
        async with asyncio.timeout(timeout_s):
            while not self._server.started:
                if self._task.done():
                    self._task.result()  # raises what stopped it
                    raise RuntimeError("uvicorn exited before it started")
                await asyncio.sleep(0.02)
        return self

    async def stop(self) -> None:
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(self._task, 30)
        self._server = None
        self._task = None


@contextlib.asynccontextmanager
async def serve(app: Any, port: int | None = None, **options: Any) -> AsyncIterator[Server]:
    server = await Server(app, port, **options).start()
    try:
        yield server
    finally:
        await server.stop()
