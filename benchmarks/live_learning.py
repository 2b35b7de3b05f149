"""Live learning on a running stack: new students arrive, an admin retrains, the model knows them.

Against a running `make run` (or any deployment), through the catalog's public API only:
1. 40 new students register (10 per filière, niveau L2), each downloads 4 papers of their own
   filière (GET /v1/epreuves/{id}/file records the DOWNLOAD);
2. once the recommender has consumed those downloads, their recommendations are measured
   ("before": the active model has never seen them, so cold-start paths answer);
3. an admin starts a training run (POST /v1/recommender/models/train) and waits for it;
4. their recommendations are measured again once the replica serves the new active version.
Reported: the run's activation decision with both versions' scores on their common held-out
rows, training time, and per phase the share of the new students' top-10 in their own filière
and which strategy answered.

    make run CATALOG_PORT=8100 RECOMMENDER_PORT=8101 DATA_DIR=$PWD/.data   # in another shell
    nice -n 10 .venv/bin/python benchmarks/live_learning.py --catalog http://127.0.0.1:8100

Writes benchmarks/out/live_learning-<time>.json. Re-runnable: each run registers new students.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import secrets
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "out"
FILIERES = ("MATH", "INFO", "PHYSIQUE", "CHIMIE")
PASSWORD = "live-learning-2025"


async def _token(client: httpx.AsyncClient, email: str, password: str) -> str:
    response = await client.post("/v1/auth/token", data={"username": email, "password": password})
    response.raise_for_status()
    return str(response.json()["access_token"])


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def _papers(client: httpx.AsyncClient, token: str, filiere: str) -> list[int]:
    params = {"filiere": filiere, "limit": 100}
    response = await client.get("/v1/epreuves", params=params, headers=_auth(token))
    response.raise_for_status()
    return [int(e["id"]) for e in response.json()["items"]]


async def _student(
    client: httpx.AsyncClient, n: int, run: str, rng: random.Random, downloads: int
) -> dict[str, Any]:
    filiere = FILIERES[n % len(FILIERES)]
    email = f"live.{run}.{n}@bench.example"
    body = {
        "email": email, "password": PASSWORD, "full_name": f"Live {n}", "niveau": "L2",
        "filiere": filiere,
    }  # fmt: skip
    (await client.post("/v1/auth/register", json=body)).raise_for_status()
    token = await _token(client, email, PASSWORD)
    chosen = rng.sample(await _papers(client, token, filiere), downloads)
    for epreuve_id in chosen:
        (
            await client.get(f"/v1/epreuves/{epreuve_id}/file", headers=_auth(token))
        ).raise_for_status()
    return {"email": email, "filiere": filiere, "token": token, "downloaded": chosen}


async def _recommendations(client: httpx.AsyncClient, student: dict[str, Any]) -> dict[str, Any]:
    response = await client.get(
        "/v1/users/me/recommendations", params={"k": 10}, headers=_auth(student["token"])
    )
    response.raise_for_status()
    return dict(response.json())


def _summary(students: list[dict[str, Any]], answers: list[dict[str, Any]]) -> dict[str, Any]:
    shares = [
        sum(item["filiere"] == s["filiere"] for item in a["items"]) / max(1, len(a["items"]))
        for s, a in zip(students, answers, strict=True)
    ]
    return {
        "own_filiere_share": round(sum(shares) / len(shares), 4),
        "strategies": dict(Counter(f"{a['source']}:{a['strategy'] or 'model'}" for a in answers)),
        "model_versions": dict(Counter(str(a["model_version"]) for a in answers)),
    }


async def _consumed(
    client: httpx.AsyncClient, admin: dict[str, str], students: list[dict[str, Any]]
) -> None:
    """Until the catalog has published every event and the recommender applied the downloads
    (its answers then leave each student's downloaded papers out)."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        stats = (await client.get("/v1/stats", headers=admin)).json()
        if stats["outbox"]["pending"] == 0:
            answers = [await _recommendations(client, s) for s in students]
            seen = [
                {int(i["id"]) for i in a["items"]} & set(s["downloaded"])
                for s, a in zip(students, answers, strict=True)
            ]
            if not any(seen):
                return
        await asyncio.sleep(1.0)
    raise SystemExit("the recommender did not apply the new downloads within 120 s")


async def main(args: argparse.Namespace) -> dict[str, Any]:
    rng = random.Random(args.seed)
    run = secrets.token_hex(3)
    async with httpx.AsyncClient(base_url=args.catalog, timeout=30.0) as client:
        admin = _auth(await _token(client, args.admin_email, args.admin_password))
        before_model = (await client.get("/v1/recommender/model", headers=admin)).json()
        active_before = (before_model.get("active") or {}).get("id")
        print(f"active version before: {active_before}", flush=True)
        started = time.perf_counter()
        students = [
            await _student(client, n, run, rng, args.downloads) for n in range(args.students)
        ]
        print(f"{len(students)} students registered, {args.downloads} downloads each "
              f"({time.perf_counter() - started:.1f} s)", flush=True)  # fmt: skip
        await _consumed(client, admin, students)
        before = _summary(students, [await _recommendations(client, s) for s in students])
        print(f"before: {before}", flush=True)

        accepted = await client.post("/v1/recommender/models/train", json={}, headers=admin)
        accepted.raise_for_status()
        run_id = int(accepted.json()["run_id"])
        trained_at = time.perf_counter()
        while True:
            listing = (await client.get("/v1/recommender/models", headers=admin)).json()
            version = next(v for v in listing["items"] if v["id"] == run_id)
            if version["status"] != "training":
                break
            if time.perf_counter() - trained_at > args.timeout:
                raise SystemExit(f"version {run_id} still training after {args.timeout:.0f} s")
            await asyncio.sleep(1.0)
        wall = time.perf_counter() - trained_at
        print(f"version {run_id}: {version['status']}, {version['decision']}: "
              f"{version['decision_reason']} ({wall:.1f} s)", flush=True)  # fmt: skip

        deadline = time.monotonic() + 60
        while True:  # the replica hot-swaps the new active version (pub/sub, polled pointer)
            answers = [await _recommendations(client, s) for s in students]
            if version["status"] != "active" or all(a["model_version"] == run_id for a in answers):
                break
            if time.monotonic() > deadline:
                break
            await asyncio.sleep(1.0)
        after = _summary(students, answers)
        print(f"after: {after}", flush=True)
        status = (await client.get("/v1/recommender/model", headers=admin)).json()
    return {
        "at": datetime.now(UTC).isoformat(),
        "catalog": args.catalog,
        "students": args.students,
        "downloads_each": args.downloads,
        "active_before": active_before,
        "run": {
            "id": run_id,
            "status": version["status"],
            "decision": version["decision"],
            "reason": version["decision_reason"],
            "scores": version["decision_scores"],
            "train_seconds": version["train_seconds"],
            "wall_seconds": round(wall, 1),
            "n_users": version["n_users"],
            "n_interactions": version["n_interactions"],
        },
        "active_after": (status.get("active") or {}).get("id"),
        "before": before,
        "after": after,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--catalog", default="http://127.0.0.1:8000")
    parser.add_argument("--admin-email", default="admin@demo.imsp.fr")
    parser.add_argument("--admin-password", default="demo-imsp-2025")
    parser.add_argument("--students", type=int, default=40)
    parser.add_argument("--downloads", type=int, default=4)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds to wait for training")
    result = asyncio.run(main(parser.parse_args()))
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"live_learning-{datetime.now(UTC):%Y%m%dT%H%M%S}.json"
    path.write_text(json.dumps(result, indent=2))
    print(f"wrote {path}")
    sys.exit(0 if result["active_after"] == result["run"]["id"] else 1)
