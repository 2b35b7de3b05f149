"""The bare FastAPI baseline the serving benchmarks compare with, served by uvicorn exactly as
our services are (one process, uvloop, httptools, no access log):

- `GET /items`: a fixed list of ten épreuve-like records, returned the plain FastAPI way;
- `POST /insert`: a JSON body validated by a pydantic model, one asyncpg INSERT (autocommit)
  into a table of its own on the same PostgreSQL, 201 with the new id.

    DATABASE_URL=postgresql://… python -m uvicorn benchmarks.bare:app --port 8710
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
from fastapi import FastAPI
from pydantic import BaseModel

from shared.database import asyncpg_url

ITEMS: list[dict[str, Any]] = [
    {
        "id": n,
        "title": f"Analyse {n} — partiel 2024",
        "matiere": "Analyse",
        "filiere": "MATH",
        "niveau": "L2",
        "type": "PARTIEL",
        "annee": 2024,
        "score": 0.9 - n / 100,
        "reason": "because you downloaded Algèbre linéaire — examen 2023",
    }
    for n in range(10)
]

TABLE = """CREATE TABLE IF NOT EXISTS public.bare_insert (
    id bigserial PRIMARY KEY, user_id bigint NOT NULL, epreuve_id bigint NOT NULL,
    kind text NOT NULL, created_at timestamptz NOT NULL DEFAULT now())"""


class Row(BaseModel):
    epreuve_id: int
    kind: str


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    url = os.environ.get("DATABASE_URL")
    if url:
        dsn = asyncpg_url(url).replace("postgresql+asyncpg://", "postgresql://", 1)
        app.state.pool = await asyncpg.create_pool(dsn, min_size=10, max_size=10)
        await app.state.pool.execute(TABLE)
    yield
    if url:
        await app.state.pool.close()


app = FastAPI(lifespan=lifespan)


@app.get("/items")
async def items() -> list[dict[str, Any]]:
    return ITEMS


@app.post("/insert", status_code=201)
async def insert(row: Row) -> dict[str, int]:
    new_id = await app.state.pool.fetchval(
        "INSERT INTO public.bare_insert (user_id, epreuve_id, kind) VALUES ($1, $2, $3) "
        "RETURNING id",
        1,
        row.epreuve_id,
        row.kind,
    )
    return {"id": new_id}
