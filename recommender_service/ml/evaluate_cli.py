"""`python -m recommender_service evaluate`: a model on a public data set, NCF protocol.

Trains with the production code (`pretrain.build_and_train` → `trainer.train`), early-stops on
a validation item held out of the training pairs, then reports HR@10 / NDCG@10 on the data
set's test items with their 99 negatives, the time per epoch and the peak memory.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from dataclasses import fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from .config import TrainConfig
from .data import IndexedData
from .datasets import BenchmarkData, load
from .evaluation import (
    ScoreFn,
    evaluate_ranking,
    itemknn_score_fn,
    model_score_fn,
    popularity_score_fn,
)
from .models import MODEL_NAMES
from .plots import plot_training
from .pretrain import build_and_train

BASELINES = ("pop", "itemknn")
# The command's own defaults where they differ from the service's `TrainConfig`: the recipe
# that gave our best ML-1M figure within the 10-minute budget (docs/BENCHMARKS.md): NeuMF from
# pre-trained GMF and MLP towers (8 epochs each), L2 on the embedding rows of each batch,
# stopped after 3 epochs without a gain.
EPOCHS = 20
PATIENCE = 3
PRETRAIN = True
PRETRAIN_EPOCHS = 8
L2 = 1e-3


def parse_args(argv: list[str]) -> argparse.Namespace:
    d = TrainConfig()
    p = argparse.ArgumentParser(prog="python -m recommender_service evaluate", description=__doc__)
    p.add_argument("--dataset", type=Path, required=True, help="ncf-ml-1m/ or ml-100k/ folder")
    p.add_argument("--model", choices=MODEL_NAMES + BASELINES, default="neumf")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--epochs", type=int, default=EPOCHS)
    p.add_argument("--batch-size", type=int, default=d.batch_size)
    p.add_argument("--lr", type=float, default=d.lr)
    p.add_argument("--weight-decay", type=float, default=d.weight_decay)
    p.add_argument("--l2", type=float, default=L2, help="L2 on the batch's embedding rows")
    p.add_argument("--embedding-dim", type=int, default=d.embedding_dim)
    p.add_argument("--layers", type=str, default=",".join(map(str, d.mlp_layers)))
    p.add_argument("--dropout", type=float, default=d.dropout)
    p.add_argument("--negatives", type=int, default=d.num_negatives)
    p.add_argument("--patience", type=int, default=PATIENCE)
    p.add_argument(
        "--pretrain",
        action=argparse.BooleanOptionalAction,
        default=PRETRAIN,
        help="NeuMF: pre-train GMF and MLP first (ignored by other models)",
    )
    p.add_argument("--pretrain-epochs", type=int, default=PRETRAIN_EPOCHS)
    p.add_argument("--threads", type=int, default=d.threads, help="torch intra-op threads")
    p.add_argument("--knn-neighbours", type=int, default=0, help="item-kNN: 0 = all items")
    p.add_argument("--json", type=Path, default=None, help="write the result as JSON here")
    p.add_argument("--plot", type=Path, default=None, help="PNG of HR@10/NDCG@10 per epoch")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p.parse_args(argv)


def config_from(args: argparse.Namespace) -> TrainConfig:
    known = {f.name for f in fields(TrainConfig)}
    values = {
        "model": args.model,
        "seed": args.seed,
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "lr": args.lr,
        "weight_decay": args.weight_decay,
        "l2": args.l2,
        "embedding_dim": args.embedding_dim,
        "mlp_layers": tuple(int(x) for x in args.layers.split(",")),
        "dropout": args.dropout,
        "num_negatives": args.negatives,
        "patience": args.patience,
        "pretrain": args.pretrain and args.model == "neumf",
        "pretrain_epochs": args.pretrain_epochs,
        "threads": args.threads,
        "confidence_weighting": False,  # benchmark data is binary
    }
    return TrainConfig(**{k: v for k, v in values.items() if k in known})


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: kB


def baseline_score_fn(name: str, data: BenchmarkData, neighbours: int) -> ScoreFn:
    if name == "pop":
        return popularity_score_fn(data.full_items, data.n_items)
    return itemknn_score_fn(
        data.full_users, data.full_items, data.n_users, data.n_items, neighbours=neighbours
    )


def train_neural(
    data: BenchmarkData, config: TrainConfig, quiet: bool
) -> tuple[ScoreFn, list[dict], float]:
    indexed = IndexedData.dense(data.train_users, data.train_items, data.n_users, data.n_items)
    bar = tqdm(total=config.epochs, desc=config.model, unit="epoch", disable=quiet)

    def progress(row: dict) -> None:
        bar.update(1)
        bar.set_postfix(
            loss=f"{row['loss']:.4f}",
            hr=f"{row['val_hr@10']:.4f}",
            ndcg=f"{row['val_ndcg@10']:.4f}",
        )

    started = time.perf_counter()
    module, result = build_and_train(
        config,
        indexed,
        validate=lambda m: evaluate_ranking(model_score_fn(m), data.validation, 10),
        progress=progress,
    )
    bar.close()
    return model_score_fn(module), result.history, time.perf_counter() - started


def run(args: argparse.Namespace) -> dict[str, Any]:
    data = load(args.dataset, seed=args.seed)
    result: dict[str, Any] = {"model": args.model, "dataset": data.name}
    if args.model in BASELINES:
        started = time.perf_counter()
        score = baseline_score_fn(args.model, data, args.knn_neighbours)
        history: list[dict] = []
        seconds = time.perf_counter() - started
        hyper: dict[str, Any] = {"knn_neighbours": args.knn_neighbours, "seed": args.seed}
    else:
        config = config_from(args)
        score, history, seconds = train_neural(data, config, args.quiet)
        hyper = config.to_dict()
    result.update(evaluate_ranking(score, data.test, 10))
    epochs = len(history)
    best = max(history, key=lambda r: r["val_ndcg@10"])["epoch"] if history else 0
    result.update(
        {
            "train_seconds": round(seconds, 2),
            "seconds_per_epoch": round(float(np.mean([r["seconds"] for r in history])), 2)
            if history
            else None,
            "epochs": epochs,
            "best_epoch": best,
            "peak_rss_mb": round(peak_rss_mb(), 1),
            "hyperparameters": hyper,
            "train_file": data.train_file,
            "n_train": data.n_train,
            "n_users": data.n_users,
            "n_items": data.n_items,
            "torch_threads": torch.get_num_threads(),
            "history": history,
        }
    )
    return result


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    result = run(args)
    summary = {k: v for k, v in result.items() if k != "history"}
    print(json.dumps(summary, indent=2))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2))
    if args.plot and result["history"]:
        title = f"{args.model} on {result['dataset']}: test HR@10 {result['hr@10']:.4f}"
        plot_training(
            result["history"], args.plot, title=f"{title}, NDCG@10 {result['ndcg@10']:.4f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
