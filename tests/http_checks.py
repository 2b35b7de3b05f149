"""Checks both services' test suites run the same way on a real socket."""

from __future__ import annotations

import httpx
from fastapi import FastAPI, Request

from tests.e2e.servers import serve


async def statuses_and_ports_around_a_500(
    app: FastAPI, headers: dict[str, str] | None = None
) -> tuple[list[int], set[int]]:
    """uvicorn on loopback, one keep-alive client: a good request, one that raises, a good
    one. Returns the statuses and the client ports the server saw (one port: one connection)."""

    @app.get("/test-peer", include_in_schema=False)
    async def peer(request: Request) -> dict[str, int]:
        assert request.client is not None
        return {"port": request.client.port}

    @app.get("/test-boom", include_in_schema=False)
    async def boom() -> None:
        raise RuntimeError("a bug")

    statuses: list[int] = []
    ports: set[int] = set()
    async with (
        serve(app) as server,
        httpx.AsyncClient(base_url=server.url, headers=headers) as http,
    ):
        for path in ("/test-peer", "/test-boom", "/test-peer"):
            response = await http.get(path)
            statuses.append(response.status_code)
            if response.status_code == 200:
                ports.add(response.json()["port"])
            else:
                assert response.json()["code"] == "internal_error"
    return statuses, ports
