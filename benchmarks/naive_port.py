"""The straightforward PyTorch port of NCF training, kept as the speed baseline (issue 5).

What many ports do: a per-sample `Dataset` whose `__getitem__` returns one (user, item, label),
a `DataLoader` with batch 256, negatives drawn one by one in a Python loop that retries until it
hits an item the user has not seen, and evaluation user by user. Same NeuMF module as production,
so the measured difference is the data pipeline and the batching, not the network.

    .venv/bin/python benchmarks/naive_port.py --dataset ../shared/data/ncf-ml-1m --epochs 1

times one epoch of this port and one epoch of the production trainer side by side, in one run,
and prints the ratio.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from recommender_service.ml.config import TrainConfig
from recommender_service.ml.data import IndexedData
from recommender_service.ml.evaluation import RankingTask, evaluate_ranking, model_score_fn
from recommender_service.ml.metrics import hit_ratio_at_k, ndcg_at_k
from recommender_service.ml.models import NeuMF
from recommender_service.ml.pretrain import build_and_train
from recommender_service.offline.datasets import BenchmarkData, load


class PairDataset(Dataset):
    def __init__(self, users: list[int], items: list[int], labels: list[float]) -> None:
        self.users, self.items, self.labels = users, items, labels

    def __len__(self) -> int:
        return len(self.users)

    def __getitem__(self, idx: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return (
            torch.tensor(self.users[idx]),
            torch.tensor(self.items[idx]),
            torch.tensor(self.labels[idx], dtype=torch.float32),
        )


def python_loop_samples(
    users: np.ndarray, items: np.ndarray, n_items: int, num_negatives: int, rng: random.Random
) -> tuple[list[int], list[int], list[float]]:
    seen: dict[int, set[int]] = {}
    for u, i in zip(users.tolist(), items.tolist(), strict=True):
        seen.setdefault(u, set()).add(i)
    out_u, out_i, out_y = [], [], []
    for u, i in zip(users.tolist(), items.tolist(), strict=True):
        out_u.append(u)
        out_i.append(i)
        out_y.append(1.0)
        for _ in range(num_negatives):
            j = rng.randrange(n_items)
            while j in seen[u]:
                j = rng.randrange(n_items)
            out_u.append(u)
            out_i.append(j)
            out_y.append(0.0)
    return out_u, out_i, out_y


def evaluate_loop(model: nn.Module, task: RankingTask, k: int = 10) -> dict[str, float]:
    """User by user: score the 100 candidates, rank the held-out one."""
    model.eval()
    ranks = []
    with torch.no_grad():
        for user, row in zip(task.users.tolist(), task.candidates, strict=True):
            row = row[row >= 0]
            items = torch.tensor(row)
            scores = model(torch.full_like(items, user), items)
            ranks.append(int((scores[1:] > scores[0]).sum()))
    model.train()
    return {
        f"hr@{k}": hit_ratio_at_k(np.array(ranks), k),
        f"ndcg@{k}": ndcg_at_k(np.array(ranks), k),
    }


def train_naive(
    data: BenchmarkData,
    *,
    epochs: int,
    seed: int = 42,
    batch_size: int = 256,
    lr: float = 0.001,
    num_negatives: int = 4,
    max_batches: int | None = None,
) -> tuple[NeuMF, list[dict]]:
    torch.manual_seed(seed)
    rng = random.Random(seed)
    model = NeuMF(data.n_users, data.n_items, 64, (128, 64, 32), 0.2)
    optimiser = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=lr)
    loss_fn = nn.BCEWithLogitsLoss()
    history = []
    for epoch in range(1, epochs + 1):
        tick = time.perf_counter()
        u, i, y = python_loop_samples(
            data.train_users, data.train_items, data.n_items, num_negatives, rng
        )
        loader = DataLoader(PairDataset(u, i, y), batch_size=batch_size, shuffle=True)
        total, batches = 0.0, 0
        for bu, bi, by in loader:
            loss = loss_fn(model(bu, bi), by)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            total += loss.item()
            batches += 1
            if max_batches is not None and batches >= max_batches:
                break
        seconds = time.perf_counter() - tick
        full = -(-len(u) // batch_size)
        history.append(
            {
                "epoch": epoch,
                "loss": total / batches,
                "seconds": seconds,
                "batches": batches,
                # Extrapolated when --max-batches cut the epoch short (sampling is always whole).
                "epoch_seconds": seconds if batches == full else seconds * full / batches,
            }
        )
    return model, history


def train_fast(data: BenchmarkData, config: TrainConfig) -> tuple[nn.Module, list[dict]]:
    indexed = IndexedData.dense(data.train_users, data.train_items, data.n_users, data.n_items)
    module, result = build_and_train(config, indexed)
    return module, result.history


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--dataset", type=Path, required=True)
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--max-batches", type=int, default=None, help="cut naive epochs short")
    p.add_argument("--threads", type=int, default=1, help="torch threads, for both pipelines")
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    data = load(args.dataset, seed=args.seed)
    config = TrainConfig(epochs=args.epochs, seed=args.seed, threads=args.threads)
    naive_model, naive_hist = train_naive(
        data, epochs=args.epochs, seed=args.seed, max_batches=args.max_batches
    )
    tick = time.perf_counter()
    naive_eval = evaluate_loop(naive_model, data.test)
    naive_eval_s = time.perf_counter() - tick
    fast_model, fast_hist = train_fast(data, config)
    tick = time.perf_counter()
    fast_eval = evaluate_ranking(model_score_fn(fast_model), data.test)
    fast_eval_s = time.perf_counter() - tick
    naive_epoch = float(np.mean([h["epoch_seconds"] for h in naive_hist]))
    fast_epoch = float(np.mean([h["seconds"] for h in fast_hist]))
    result = {
        "dataset": data.name,
        "epochs": args.epochs,
        "torch_threads": torch.get_num_threads(),
        "naive": {"seconds_per_epoch": round(naive_epoch, 2), "eval_seconds": naive_eval_s}
        | naive_eval
        | {"batch_size": 256, "lr": 0.001, "extrapolated": args.max_batches is not None},
        "fast": {"seconds_per_epoch": round(fast_epoch, 2), "eval_seconds": fast_eval_s}
        | fast_eval
        | {"batch_size": config.batch_size, "lr": config.lr},
        "speedup_per_epoch": round(naive_epoch / fast_epoch, 2),
        "speedup_eval": round(naive_eval_s / max(fast_eval_s, 1e-9), 1),
    }
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
