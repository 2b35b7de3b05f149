"""A simulated A/B test of two model versions, end to end on real processes (issue 13 §2).

Starts throw-away embedded PostgreSQL and Redis, the recommender and the catalog as their own
processes on 127.0.0.1, seeds the demo set through the catalog, trains two versions through the
admin API (a weak control: one epoch, 8 dimensions; a candidate: more epochs, 32 dimensions),
makes the control the active version, then starts an experiment through the catalog
(`POST /v1/recommender/experiments`, `--traffic` of the users on the candidate).

A scripted population then uses the lists: each student asks for recommendations `--rounds`
times; a list is engaged with with probability `--ctr` on the control arm and `--ctr × --lift`
on the candidate's (the population prefers the candidate), the position drawn ∝ 1/position;
an engagement is a CLICK naming the list's `recommendation_id`, followed by a download of the
same épreuve with probability `--download`. Nothing here decides the attribution: the figures
printed are the catalog's own (`GET /v1/recommender/experiments/current`,
`GET /v1/stats/recommendations`), beside what the script itself did, for comparison.

    nice -n 10 .venv/bin/python benchmarks/ab_simulation.py --rounds 10 --traffic 0.5

Writes benchmarks/out/ab-<time>.json. Loopback only, bounded in time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.e2e import _free_port, _servers, _start, _stop, _until  # noqa: E402
from catalog_service.auth.tokens import TokenSigner, TokenType  # noqa: E402
from migrations.runner import upgrade  # noqa: E402
from shared.service_auth import SERVICE_KEY_HEADER  # noqa: E402

OUT = ROOT / "benchmarks" / "out"
ADMIN_EMAIL = "ab-admin@example.org"
RECOMMENDATIONS = "/v1/users/me/recommendations"


async def _train(service: httpx.AsyncClient, body: dict[str, Any]) -> int:
    run = (await service.post("/v1/models/train", json=body)).json()["run_id"]

    async def finished() -> bool:
        versions = (await service.get("/v1/models", params={"limit": 100})).json()["items"]
        return next(v for v in versions if v["id"] == run)["status"] not in ("training",)

    await _until(finished, 900, f"version {run} trained")
    return int(run)


async def _admin(catalog: httpx.AsyncClient, password: str) -> dict[str, str]:
    form = {"username": ADMIN_EMAIL, "password": password}
    token = (await catalog.post("/v1/auth/token", data=form)).json()["access_token"]
    return {"Authorization": f"Bearer {token}"}


async def _student(
    catalog: httpx.AsyncClient,
    headers: dict[str, str],
    rng: random.Random,
    args: argparse.Namespace,
    did: dict[str, Counter[str]],
) -> None:
    """One student's rounds: ask, maybe engage (CLICK, then maybe a download) with the list."""
    for _ in range(args.rounds):
        response = await catalog.get(RECOMMENDATIONS, params={"k": 10}, headers=headers)
        if response.status_code != 200:
            did["errors"]["recommendations"] += 1
            continue
        answer = response.json()
        arm = answer.get("arm") or "none"
        did[arm]["lists"] += 1
        items = answer["items"]
        p = args.ctr * (args.lift if arm == "candidate" else 1.0)
        if not items or rng.random() >= p:
            continue
        weights = [1.0 / item["position"] for item in items]
        chosen = rng.choices(items, weights=weights)[0]
        body = {"epreuve_id": chosen["id"], "kind": "CLICK",
                "recommendation_id": answer["recommendation_id"]}  # fmt: skip
        clicked = await catalog.post("/v1/interactions", json=body, headers=headers)
        if clicked.status_code != 201:
            did["errors"]["clicks"] += 1
            continue
        did[arm]["engaged"] += 1
        did[arm][f"rr@{chosen['position']}"] += 1
        if rng.random() < args.download:
            params = {"recommendation_id": answer["recommendation_id"]}
            got = await catalog.get(f"/v1/epreuves/{chosen['id']}/file", params=params,
                                    headers=headers)  # fmt: skip
            did[arm]["downloads"] += 1 if got.status_code == 200 else 0


def _mrr(counts: Counter[str]) -> float:
    lists = counts["lists"]
    total = sum(n / int(k.removeprefix("rr@")) for k, n in counts.items() if k.startswith("rr@"))
    return round(total / lists, 4) if lists else 0.0


async def _simulate(args: argparse.Namespace, env: dict[str, str]) -> dict[str, Any]:
    catalog_url = f"http://127.0.0.1:{env['CATALOG_PORT']}"
    logs = Path(env["DATA_DIR"])
    results: dict[str, Any] = {}
    processes = [
        _start("recommender_service", env, logs / "recommender.log"),
        _start("catalog_service", env, logs / "catalog.log"),
    ]
    try:
        async with (
            httpx.AsyncClient(base_url=catalog_url, timeout=60) as catalog,
            httpx.AsyncClient(base_url=env["RECOMMENDER_URL"], timeout=60,
                              headers={SERVICE_KEY_HEADER: env["SERVICE_API_KEY"]}) as service,
        ):  # fmt: skip
            for client, name in ((service, "recommender"), (catalog, "catalog")):
                await _until(lambda c=client: _ready(c), 120, f"{name} ready")
            seeded = await asyncio.to_thread(
                subprocess.run, [sys.executable, "-m", "catalog_service", "seed", "--seed", "42"],
                env=env, cwd=ROOT, capture_output=True, text=True, timeout=600, check=False,
            )  # fmt: skip
            if seeded.returncode != 0:
                raise SystemExit(f"seed failed: {seeded.stderr[-2000:]}")

            async def consumed() -> bool:
                counts = (await service.get("/v1/stats")).json()["read_model"]
                return bool(counts["interactions"] == 15_000)

            await _until(consumed, 300, "recommender consumed the seed")
            print("seeded and consumed", flush=True)
            control = await _train(service, {"epochs": 1, "embedding_dim": 8, "batch_size": 512})
            candidate = await _train(
                service, {"epochs": args.epochs, "embedding_dim": 32, "batch_size": 512}
            )
            print(f"trained control {control} and candidate {candidate}", flush=True)
            admin = await _admin(catalog, env["FIRST_ADMIN_PASSWORD"])
            activated = await catalog.post(
                f"/v1/recommender/models/{control}/activate", headers=admin
            )
            assert activated.status_code == 200, activated.text

            async def serving_control() -> bool:
                return bool((await service.get("/v1/model")).json()["served_version"] == control)

            await _until(serving_control, 120, "the control served")
            body = {"candidate_version": candidate, "traffic": args.traffic}
            started = await catalog.post("/v1/recommender/experiments", json=body, headers=admin)
            assert started.status_code == 201, started.text
            experiment = started.json()
            print(f"experiment {experiment['id']} running: {experiment}", flush=True)

            signer = TokenSigner(secret=env["JWT_SECRET"])
            users = (await service.get("/v1/stats")).json()["read_model"]["users"]
            students = [
                {"Authorization": f"Bearer {signer.issue(uid, TokenType.ACCESS, version=0)}"}
                for uid in range(12, users + 1)  # ids 1-11: the admins and the teachers
            ]

            async def arms_served() -> bool:
                answer = (await catalog.get(RECOMMENDATIONS, headers=students[0])).json()
                return answer.get("experiment_id") == experiment["id"]

            await _until(arms_served, 120, "answers carry the experiment's arms")
            did: dict[str, Counter[str]] = {k: Counter() for k in ("control", "candidate",
                                                                   "none", "errors")}  # fmt: skip
            rng = random.Random(args.seed)
            began = time.perf_counter()
            gate = asyncio.Semaphore(args.clients)

            async def one(headers: dict[str, str], seed: int) -> None:
                async with gate:
                    await _student(catalog, headers, random.Random(seed), args, did)

            await asyncio.gather(*(one(h, rng.randrange(2**32)) for h in students))
            results["simulation_seconds"] = round(time.perf_counter() - began, 1)
            await asyncio.sleep(2.0)  # the impression log's flush interval, with margin
            current = (await catalog.get("/v1/recommender/experiments/current",
                                         headers=admin)).json()  # fmt: skip
            stats = (await catalog.get("/v1/stats/recommendations", params={"days": 1},
                                       headers=admin)).json()  # fmt: skip
            results.update(
                experiment={k: current[k] for k in ("id", "candidate_version",
                                                     "control_version", "traffic")},
                online=current["online"],
                groups=stats["groups"],
                script={arm: {**{k: v for k, v in c.items() if not k.startswith("rr@")},
                              "mrr": _mrr(c)} for arm, c in did.items() if c},
            )  # fmt: skip
            if args.promote:
                promoted = await catalog.post(
                    "/v1/recommender/experiments/current/promote", headers=admin
                )
                model = (await catalog.get("/v1/recommender/model", headers=admin)).json()
                results["promoted"] = {"status": promoted.json()["status"],
                                       "active_version": model["active"]["id"]}  # fmt: skip
    finally:
        for process in processes:
            _stop(process)
    return results


async def _ready(client: httpx.AsyncClient) -> bool:
    return (await client.get("/readyz")).status_code == 200


def _table(results: dict[str, Any]) -> str:
    online = results["online"]
    lines = [
        f"{'arm':<10} {'version':>7} {'lists':>6} {'CTR':>7} {'downl.':>7} {'MRR':>7} "
        f"{'coverage':>8}   (script: lists, engaged, downloads)"
    ]
    versions = {"control": results["experiment"]["control_version"],
                "candidate": results["experiment"]["candidate_version"]}  # fmt: skip
    for arm in ("control", "candidate"):
        m = online["arms"].get(arm)
        s = results["script"].get(arm, {})
        if m is None:
            continue
        lines.append(
            f"{arm:<10} {versions[arm]:>7} {m['impressions']:>6} {m['ctr']:>7.4f} "
            f"{m['download_rate']:>7.4f} {m['mrr']:>7.4f} {m['coverage']:>8.4f}   "
            f"({s.get('lists', 0)}, {s.get('engaged', 0)}, {s.get('downloads', 0)})"
        )
    d = online["ctr_difference"]
    if d:
        lines.append(
            f"CTR difference (candidate − control): {d['estimate']:+.4f}, "
            f"{d['confidence']:.0%} CI [{d['low']:+.4f}, {d['high']:+.4f}]"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10, help="lists asked per student")
    parser.add_argument("--traffic", type=float, default=0.5, help="the candidate's share")
    parser.add_argument("--ctr", type=float, default=0.30, help="control arm's engagement")
    parser.add_argument("--lift", type=float, default=1.3, help="candidate's CTR multiplier")
    parser.add_argument("--download", type=float, default=0.4, help="P(download | click)")
    parser.add_argument("--epochs", type=int, default=10, help="the candidate's epochs")
    parser.add_argument("--clients", type=int, default=16, help="students at once")
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--promote", action="store_true", help="promote the candidate at the end")
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="epreuves-bench-ab-"))
    try:
        with _servers(scratch) as urls:
            for schema in ("catalog", "recommender"):
                upgrade(schema, urls["DATABASE_URL"])
            recommender_port = str(_free_port())
            env = {
                **os.environ, **urls,
                "DATA_DIR": str(scratch / "data"),
                "SERVICE_API_KEY": secrets.token_urlsafe(24),
                "JWT_SECRET": secrets.token_urlsafe(32),
                "CATALOG_PORT": str(_free_port()),
                "RECOMMENDER_PORT": recommender_port,
                "RECOMMENDER_URL": f"http://127.0.0.1:{recommender_port}",
                "FIRST_ADMIN_EMAIL": ADMIN_EMAIL,
                "FIRST_ADMIN_PASSWORD": secrets.token_urlsafe(16),
                "LOG_LEVEL": "WARNING",
                "AUTO_RETRAIN_ENABLED": "false",
            }  # fmt: skip
            Path(env["DATA_DIR"]).mkdir(parents=True)
            env["CATALOG_URL"] = f"http://127.0.0.1:{env['CATALOG_PORT']}"
            results = asyncio.run(_simulate(args, env))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    report = {"benchmark": "ab_simulation", "at": datetime.now(UTC).isoformat(timespec="seconds"),
              "params": vars(args), **results}  # fmt: skip
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"ab-{datetime.now(UTC):%Y%m%dT%H%M%S}.json"
    path.write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))
    print(_table(results))
    print(f"written to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
