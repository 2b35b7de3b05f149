"""A simulated A/B test of two model versions, end to end on real processes (issue 13 §2).

Starts the product on throw-away embedded PostgreSQL and Redis (`benchmarks/stack.py`: both
services as their own processes on 127.0.0.1, the demo set seeded through the catalog), trains
two versions through the recommender's API (a weak control: one epoch; a candidate:
`--epochs`), makes the control the active version, then starts an experiment through the
catalog (`POST /v1/recommender/experiments`, `--traffic` of the users on the candidate).

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
import random
import secrets
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.stack import Stack, running, until  # noqa: E402

OUT = ROOT / "benchmarks" / "out"
ADMIN_EMAIL = "ab-admin@example.org"
RECOMMENDATIONS = "/v1/users/me/recommendations"


async def _train(service: httpx.AsyncClient, body: dict[str, Any]) -> int:
    run = (await service.post("/v1/models/train", json=body)).json()["run_id"]

    async def finished() -> bool:
        versions = (await service.get("/v1/models", params={"limit": 100})).json()["items"]
        return next(v for v in versions if v["id"] == run)["status"] not in ("training",)

    await until(finished, 900, f"version {run} trained")
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


def _create_admin(stack: Stack) -> str:
    """An admin through the catalog's own command; its password."""
    password = secrets.token_urlsafe(16)
    created = subprocess.run(  # noqa: S603
        [sys.executable, "-m", "catalog_service", "create-user", "--email", ADMIN_EMAIL,
         "--password", password, "--role", "admin"],
        env=stack.env, cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    if created.returncode != 0:
        raise SystemExit(f"create-user failed: {created.stderr[-2000:]}")
    return password


async def _simulate(args: argparse.Namespace, stack: Stack, password: str) -> dict[str, Any]:
    results: dict[str, Any] = {"control_version": stack.notes["model_version"]}
    async with (
        httpx.AsyncClient(base_url=stack.catalog, timeout=60) as catalog,
        httpx.AsyncClient(base_url=stack.recommender, timeout=60,
                          headers=stack.service_headers) as service,
    ):  # fmt: skip
        control = int(stack.notes["model_version"])
        candidate = await _train(
            service, {"epochs": args.epochs, "embedding_dim": 32, "batch_size": 512}
        )
        print(f"trained control {control} and candidate {candidate}", flush=True)
        admin = await _admin(catalog, password)
        # The candidate may have been activated on its metrics: the control is the active one.
        activated = await catalog.post(f"/v1/recommender/models/{control}/activate", headers=admin)
        assert activated.status_code == 200, activated.text

        async def serving_control() -> bool:
            return bool((await service.get("/v1/model")).json()["served_version"] == control)

        await until(serving_control, 120, "the control served")
        body = {"candidate_version": candidate, "traffic": args.traffic}
        started = await catalog.post("/v1/recommender/experiments", json=body, headers=admin)
        assert started.status_code == 201, started.text
        experiment = started.json()
        print(f"experiment {experiment['id']} running: {experiment}", flush=True)

        user_ids = list(range(12, int(stack.notes["users"]) + 1))  # 1-11: admin, teachers
        students = [{"Authorization": f"Bearer {t}"} for t in stack.student_tokens(user_ids)]

        async def arms_served() -> bool:
            answer = (await catalog.get(RECOMMENDATIONS, headers=students[0])).json()
            return answer.get("experiment_id") == experiment["id"]

        await until(arms_served, 120, "answers carry the experiment's arms")
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
    return results


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
    with running(workers=1, epochs=1) as stack:  # the control: one epoch
        results = asyncio.run(_simulate(args, stack, _create_admin(stack)))
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
