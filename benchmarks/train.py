"""Training time and metrics for a data set and a model (issue 3 §5, issue 5).

    # the reference system's size: 200 users, 150 épreuves, 15,000 interactions (it took 26 s)
    .venv/bin/python benchmarks/train.py --generated --model neumf
    # a public data set, NCF protocol (same harness as `python -m recommender_service evaluate`)
    .venv/bin/python benchmarks/train.py --dataset ../shared/data/ml-100k --model mf

`--generated` runs the production `fit` end to end (leave-one-out selection with early stopping,
the 72/8/20 hold-out for RMSE/precision/recall, the refit on all data) and prints every metric
beside the popularity baseline's.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

from recommender_service.ml.config import TrainConfig
from recommender_service.ml.pipeline import fit
from recommender_service.offline import evaluate_cli

ROOT = Path(__file__).resolve().parents[1]


def generated(args: argparse.Namespace) -> dict:
    sys.path.insert(0, str(ROOT))  # the generator lives with the tests, which are not installed
    from tests.recommender.synthetic import generate

    data = generate(args.users, args.items, args.interactions, seed=args.seed)
    interactions = data.interactions()
    config = TrainConfig(model=args.model, seed=args.seed, threads=args.threads)
    if args.epochs:
        config.epochs = args.epochs
    started = time.perf_counter()
    model = fit(interactions, config)
    seconds = time.perf_counter() - started
    metrics = {k: round(v, 4) for k, v in model.metrics.items()}
    return {
        "dataset": f"generated {args.users} users × {args.items} items, "
        f"{args.interactions} interactions ({len(interactions)} distinct pairs)",
        "model": args.model,
        "total_seconds": round(seconds, 2),
        "selection_epochs": len(model.history),
        "best_epoch": int(model.metrics["best_epoch"]),
        "seconds_per_epoch": round(
            sum(h["seconds"] for h in model.history) / len(model.history), 3
        ),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "model_vs_popularity": {
            k: {"model": metrics[k], "popularity": metrics[f"pop_{k}"]}
            for k in ("hr@10", "ndcg@10", "precision@10", "recall@10", "coverage@10", "rmse")
        },
        "hyperparameters": config.to_dict(),
    }


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--generated", action="store_true", help="planted-structure synthetic data")
    p.add_argument("--dataset", type=Path, help="ncf-ml-1m/ or ml-100k/ folder")
    p.add_argument("--model", default="neumf")
    p.add_argument("--users", type=int, default=200)
    p.add_argument("--items", type=int, default=150)
    p.add_argument("--interactions", type=int, default=15_000)
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--json", type=Path, default=None)
    args, rest = p.parse_known_args(argv)
    if args.generated == (args.dataset is not None):
        p.error("give exactly one of --generated and --dataset")
    if args.generated:
        result = generated(args)
        print(json.dumps(result, indent=2))
        if args.json:
            args.json.write_text(json.dumps(result, indent=2))
        return 0
    forwarded = ["--dataset", str(args.dataset), "--model", args.model, "--seed", str(args.seed)]
    if args.epochs:
        forwarded += ["--epochs", str(args.epochs)]
    if args.threads:
        forwarded += ["--threads", str(args.threads)]
    if args.json:
        forwarded += ["--json", str(args.json)]
    return evaluate_cli.main(forwarded + rest)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
