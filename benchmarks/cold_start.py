"""Cold start: HR@10 / NDCG@10 on users and papers never seen in training, with and without
side features, beside the popularity fallbacks (protocol: recommender_service/offline/
cold_start.py).

    .venv/bin/python benchmarks/cold_start.py --dataset demo --seeds 1,2,3 \\
        --json benchmarks/out/cold_demo.json --plot docs/img/cold_start_demo.png
    nice -n 10 .venv/bin/python benchmarks/cold_start.py --dataset ../shared/data/ncf-ml-1m \\
        --epochs 4 --json benchmarks/out/cold_ml1m.json --plot docs/img/cold_start_ml1m.png

`demo` is the seed generator of `make run` (catalog_service/seed/generator.py) at --scale
times the reference counts; its planted structure is the filière and niveau of students and
papers. On ML-1M the users are known by users.dat (gender, age, occupation) and the films by
movies.dat (genres, decade); its popularity "in segment" counts among users of the same
gender and age group. Prints a markdown table (mean ± std over the seeds).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from catalog_service.seed.generator import generate
from recommender_service.ml.config import TrainConfig
from recommender_service.ml.data import InteractionData
from recommender_service.ml.features import SideInfo
from recommender_service.ml.feedback import implicit_feedback
from recommender_service.offline import cold_start
from recommender_service.offline.datasets import load
from recommender_service.offline.plots import plot_cold_start

Baselines = dict[str, Callable[[InteractionData], cold_start.Scorer]]


def demo_data(seed: int, scale: float) -> tuple[InteractionData, SideInfo, Baselines]:
    demo = generate(seed=seed, scale=scale)
    rows = demo.interactions
    data = implicit_feedback(
        np.array([r.user_key for r in rows]), np.array([r.epreuve_key for r in rows]),
        [r.kind.value for r in rows],
        np.array([np.nan if r.relevance is None else r.relevance for r in rows], float),
        np.array([int(r.at.timestamp()) for r in rows]),
    )  # fmt: skip
    users = {u.key: {"niveau": u.niveau, "filiere": u.filiere} for u in demo.users if u.niveau}
    items = {
        p.key: {"filiere": p.filiere, "niveau": p.niveau, "matiere": p.matiere, "type": p.type,
                "annee": p.annee}
        for p in demo.epreuves
    }  # fmt: skip
    side = SideInfo(users, items)  # type: ignore[arg-type]  # StrEnum values are str
    baselines: Baselines = {
        "popularity": lambda warm: cold_start.popularity_scorer(warm, side),
        "pop. in filière": lambda warm: cold_start.popularity_scorer(
            warm, side, own_fields=("niveau", "filiere")
        ),
    }
    return data, side, baselines


def movielens_data(path: Path) -> tuple[InteractionData, SideInfo, Baselines]:
    bench = load(path)
    if bench.side is None:
        raise SystemExit(f"{path}: no users.dat / movies.dat / ncf_item_map.tsv")
    data = InteractionData.from_pairs(bench.full_users, bench.full_items)
    side = bench.side
    baselines: Baselines = {
        "popularity": lambda warm: cold_start.popularity_scorer(warm, side),
        "pop. in segment": lambda warm: cold_start.popularity_scorer(
            warm, side, group_fields=("gender", "age")
        ),
    }
    return data, side, baselines


def aggregate(runs: list[dict[str, Any]]) -> dict[str, dict[str, dict[str, tuple[float, float]]]]:
    out: dict[str, dict[str, dict[str, tuple[float, float]]]] = {}
    for task, methods in runs[0]["table"].items():
        out[task] = {}
        for method, figures in methods.items():
            out[task][method] = {}
            for metric in figures:
                values = np.array([r["table"][task][method][metric] for r in runs])
                spread = float(values.std(ddof=1)) if len(values) > 1 else 0.0
                out[task][method][metric] = (float(values.mean()), spread)
    return out


def markdown(table: dict[str, dict[str, dict[str, tuple[float, float]]]]) -> str:
    tasks = list(table)
    head = "| method | " + " | ".join(f"{t} HR@10 | {t} NDCG@10" for t in tasks) + " |"
    lines = [head, "|---|" + "---|---|" * len(tasks)]
    for method in table[tasks[0]]:
        cells = []
        for t in tasks:
            for metric in ("hr@10", "ndcg@10"):
                mean, std = table[t][method][metric]
                cells.append(f"{mean:.3f} ± {std:.3f}" if std else f"{mean:.3f}")
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--dataset", default="demo", help="demo, or an ncf-ml-1m/ folder")
    p.add_argument("--scale", type=float, default=4.0, help="demo: times the reference counts")
    p.add_argument("--seeds", default="1", help="comma-separated; the table is mean ± std")
    p.add_argument("--share", type=float, default=0.1, help="users and items held out")
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--patience", type=int, default=5)
    p.add_argument("--batch-size", type=int, default=None, help="default: 512 demo, 2048 ML")
    p.add_argument("--embedding-dim", type=int, default=32)
    p.add_argument("--layers", default="64,32,16")
    p.add_argument("--id-dropout", type=float, default=TrainConfig().id_dropout)
    p.add_argument("--json", type=Path, default=None)
    p.add_argument("--plot", type=Path, default=None)
    args = p.parse_args(argv)
    demo = args.dataset == "demo"
    runs = []
    started = time.perf_counter()
    for seed in (int(s) for s in args.seeds.split(",")):
        data, side, baselines = (
            demo_data(seed, args.scale) if demo else movielens_data(Path(args.dataset))
        )
        config = TrainConfig(
            model="neumf_features", seed=seed, epochs=args.epochs, patience=args.patience,
            batch_size=args.batch_size or (512 if demo else 2048),
            embedding_dim=args.embedding_dim,
            mlp_layers=tuple(int(x) for x in args.layers.split(",")),
            id_dropout=args.id_dropout, confidence_weighting=demo,
        )  # fmt: skip

        def show(row: dict[str, Any], seed: int = seed) -> None:
            val = row.get("val_ndcg@10", float("nan"))
            print(f"seed {seed} epoch {row['epoch']}: loss {row['loss']:.4f}, val NDCG@10 "
                  f"{val:.4f}, {row['seconds']:.1f}s", flush=True)  # fmt: skip

        result = cold_start.run(data, side, config, baselines, share=args.share, progress=show)
        print(json.dumps({k: v for k, v in result.items() if k != "table"}), flush=True)
        runs.append(result)
    table = aggregate(runs)
    name = "demo" if demo else Path(args.dataset).name
    print(markdown(table))
    print(f"total {time.perf_counter() - started:.0f}s")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        settings = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}
        record = {"args": settings, "runs": runs, "table": table}
        args.json.write_text(json.dumps(record, indent=2))
    if args.plot:
        held = runs[0]["held_out"]
        title = (
            f"cold start on {name}: {held['items']} new items, {held['users']} new users "
            f"(seeds {args.seeds})"
        )
        plot_cold_start(table, args.plot, title=title)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
