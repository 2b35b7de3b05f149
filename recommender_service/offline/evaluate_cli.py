"""`python -m recommender_service evaluate`: a model on a public data set, NCF protocol.

Trains with the production code (`selection.select` → `families.train_family`): early stopping
and hyper-parameter searches look at a validation item held out of the training pairs; with
`--model auto` every candidate is fitted (cheapest first, within `--budget-seconds`), fused, and
the best on validation chosen. Then HR@10 / NDCG@10 on the data set's test items with their 99
negatives, for every candidate, the time per epoch and the peak memory.

Before the test, EASE^R and iALS (and their parts of a blend) are refit on every training pair,
validation item included, with what their search found (seconds; Dacrema et al. do the same);
the neural models keep their early-stopped weights, since a refit would double their time.

With `--distributed` (under torchrun) every process loads the data set and runs the same
protocol; the SGD epochs are shared out (ml/distributed.py) and rank 0 alone prints and writes
the JSON, with the same keys as one process (`world_size` says how many there were).
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from recommender_service.ml import distributed
from recommender_service.ml.config import TrainConfig
from recommender_service.ml.data import IndexedData
from recommender_service.ml.evaluation import (
    ScoreFn,
    evaluate_ranking,
    itemknn_score_fn,
    model_score_fn,
    popularity_score_fn,
)
from recommender_service.ml.families import NAMES, NEURAL, refit
from recommender_service.ml.features import FeatureSpace
from recommender_service.ml.placement import add_options
from recommender_service.ml.selection import Selection, select, summary

from .console import StageBar, candidates_table
from .datasets import BenchmarkData, load
from .plots import plot_candidates, plot_training

BASELINES = ("pop", "itemknn")
# The command's own defaults where they differ from the service's `TrainConfig`: the recipe
# that gave our best ML-1M figures (docs/BENCHMARKS.md): NeuMF from a GMF tower taken from
# iALS and an MLP tower pre-trained 8 epochs, L2 on the embedding rows of each batch, stopped
# after 3 epochs without a gain; `auto` starts nothing that would end after 9 minutes.
EPOCHS = 20
PATIENCE = 3
PRETRAIN = True
PRETRAIN_EPOCHS = 8
GMF_INIT = "ials"
L2 = 1e-3
BUDGET_SECONDS = 540.0


def parse_args(argv: list[str]) -> argparse.Namespace:
    d = TrainConfig()
    p = argparse.ArgumentParser(prog="python -m recommender_service evaluate", description=__doc__)
    p.add_argument("--dataset", type=Path, required=True, help="ncf-ml-1m/ or ml-100k/ folder")
    p.add_argument("--model", choices=NAMES + BASELINES, default="neumf")
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
    p.add_argument(
        "--gmf-init",
        choices=("bce", "ials"),
        default=GMF_INIT,
        help="NeuMF's GMF tower: trained alone (bce) or taken from iALS's factors",
    )
    p.add_argument("--ease-l2", type=float, default=None, help="EASE λ (default: searched)")
    p.add_argument("--id-dropout", type=float, default=d.id_dropout, help="neumf_features")
    p.add_argument("--ials-factors", type=int, default=d.ials_factors)
    p.add_argument("--ials-regularization", type=float, default=None, help="default: searched")
    p.add_argument("--ials-alpha", type=float, default=None, help="default: searched")
    p.add_argument("--ials-iterations", type=int, default=d.ials_iterations)
    p.add_argument(
        "--candidates", type=str, default=",".join(d.candidates), help="auto: the families tried"
    )
    p.add_argument("--budget-seconds", type=float, default=BUDGET_SECONDS, help="auto: budget")
    p.add_argument("--threads", type=int, default=d.threads, help="torch intra-op threads")
    add_options(p, shared="the SGD epochs shared between the processes")
    p.add_argument("--knn-neighbours", type=int, default=0, help="item-kNN: 0 = all items")
    p.add_argument("--json", type=Path, default=None, help="write the result as JSON here")
    p.add_argument("--plot", type=Path, default=None, help="PNG of the chosen model's curves")
    p.add_argument("--plot-candidates", type=Path, default=None, help="auto: PNG comparison")
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
        "pretrain": args.pretrain,  # read by NeuMF only
        "pretrain_epochs": args.pretrain_epochs,
        "gmf_init": args.gmf_init,
        "ease_l2": args.ease_l2,
        "id_dropout": args.id_dropout,
        "ials_factors": args.ials_factors,
        "ials_regularization": args.ials_regularization,
        "ials_alpha": args.ials_alpha,
        "ials_iterations": args.ials_iterations,
        "candidates": tuple(c for c in args.candidates.split(",") if c),
        "budget_seconds": args.budget_seconds if args.model == "auto" else None,
        "threads": args.threads,
        "device": args.device,
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


def test_modules(selection: Selection, full: IndexedData) -> dict[str, nn.Module]:
    """The module each candidate is tested with: non-neural ones refit on every training pair
    (the blend after its parts, which it reuses), neural ones as early-stopped."""
    tested: dict[str, nn.Module] = {}
    for c in selection.candidates:
        if c.name in NEURAL:
            tested[c.name] = c.module
        else:
            tested[c.name] = refit(c.config, c.result, full, keep=tested)
    return tested


def run_trained(args: argparse.Namespace, data: BenchmarkData) -> dict[str, Any]:
    config = config_from(args)
    train = IndexedData.dense(data.train_users, data.train_items, data.n_users, data.n_items)
    full = IndexedData.dense(data.full_users, data.full_items, data.n_users, data.n_items)
    if data.side is not None:  # neumf_features reads them (ML-1M: users.dat, movies.dat)
        space = FeatureSpace.build(train.user_ids, train.item_ids, data.side)
        train, full = replace(train, features=space), replace(full, features=space)
    bar = StageBar(disable=args.quiet or not distributed.is_leader())
    started = time.perf_counter()
    try:
        selection = select(config, train, data.validation, progress=bar)
    finally:
        bar.close()
    select_seconds = time.perf_counter() - started
    tested = test_modules(selection, full)
    refit_seconds = time.perf_counter() - started - select_seconds
    candidates = summary(
        selection, lambda c: evaluate_ranking(model_score_fn(tested[c.name]), data.test, 10)
    )
    chosen = selection.chosen
    history = chosen.result.history
    return {
        **{k: candidates[chosen.name][k] for k in ("hr@10", "ndcg@10")},
        "chosen": chosen.name,
        "train_seconds": round(select_seconds + refit_seconds, 2),
        "select_seconds": round(select_seconds, 2),
        "refit_seconds": round(refit_seconds, 2),
        "seconds_per_epoch": round(float(np.mean([r["seconds"] for r in history])), 2)
        if history and all("seconds" in r for r in history)
        else None,
        "epochs": len(history),
        "best_epoch": chosen.result.best_epoch,
        "hyperparameters": chosen.config.to_dict(),
        "candidates": candidates,
        "history": history,
        "candidate_histories": {c.name: c.result.history for c in selection.candidates},
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    data = load(args.dataset, seed=args.seed)
    result: dict[str, Any] = {"model": args.model, "dataset": data.name}
    if args.model in BASELINES:
        started = time.perf_counter()
        score = baseline_score_fn(args.model, data, args.knn_neighbours)
        result.update(evaluate_ranking(score, data.test, 10))
        result.update(
            {
                "train_seconds": round(time.perf_counter() - started, 2),
                "seconds_per_epoch": None,
                "epochs": 0,
                "best_epoch": 0,
                "hyperparameters": {"knn_neighbours": args.knn_neighbours, "seed": args.seed},
                "history": [],
            }
        )
    else:
        result.update(run_trained(args, data))
    result.update(
        {
            "peak_rss_mb": round(peak_rss_mb(), 1),
            "train_file": data.train_file,
            "n_train": data.n_train,
            "n_users": data.n_users,
            "n_items": data.n_items,
            "torch_threads": torch.get_num_threads(),
            "device": args.device,
            "world_size": distributed.world_size(),
        }
    )
    return result


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    try:
        args.device = distributed.resolve_device(args.device)
        if args.distributed:
            distributed.check_family(args.model)
            distributed.join(args.device)
    except distributed.DistributedError as exc:
        print(f"not started: {exc}", file=sys.stderr)
        return 2
    try:
        result = run(args)
        if distributed.is_leader():
            report(args, result)
    finally:
        distributed.leave()
    return 0


def report(args: argparse.Namespace, result: dict[str, Any]) -> None:
    """The figures on stdout, and the JSON and the plots asked for."""
    shown = {k: v for k, v in result.items() if "histor" not in k and k != "candidates"}
    print(json.dumps(shown, indent=2))
    if "candidates" in result:
        print(candidates_table(result["candidates"]))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2))
    title = f"{result.get('chosen', args.model)} on {result['dataset']}"
    figures = f"test HR@10 {result['hr@10']:.4f}, NDCG@10 {result['ndcg@10']:.4f}"
    if args.plot and result["history"]:
        plot_training(result["history"], args.plot, title=f"{title}: {figures}")
    if args.plot_candidates and "candidates" in result:
        plot_candidates(result["candidates"], args.plot_candidates, title=title)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
