"""Diversity offline (issue 13 §3): what MMR re-ranking costs in accuracy and buys in variety as
`diversity` goes from 0 to 1, with the serving code's own re-ranker (`serving.rerank`).

    nice -n 10 .venv/bin/python benchmarks/diversity.py --dataset ../shared/data/ml-100k \\
        --plot docs/img/diversity_ml100k.png

A model is trained on the data set's training pairs (the validation item held out for early
stopping, as `evaluate` does). Then, per diversity value:
- HR@10 / NDCG@10, NCF protocol: each user's test item among its 99 negatives; the best
  `POOL_PER_ITEM × 10` of these 100 by score are re-ranked down to 10;
- lists as served: every item the user has not rated, the best 40 re-ranked down to 10;
  their intra-list diversity (mean pairwise 1 − cosine) on the model's embeddings (what MMR
  optimises) and on the films' genres (an independent view), and the catalogue coverage
  (the share of items in at least one user's list).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import torch

from recommender_service.ml.config import TrainConfig
from recommender_service.ml.data import IndexedData
from recommender_service.ml.evaluation import evaluate_ranking, model_score_fn
from recommender_service.ml.pretrain import build_and_train
from recommender_service.offline.datasets import BenchmarkData, load
from recommender_service.serving.rerank import (
    POOL_PER_ITEM,
    Rotation,
    intra_list_diversity,
    rerank,
    unit_rows,
)

K = 10
NO_ROTATION = Rotation(after=1, factor=1.0)


def genre_vectors(path: Path, data: BenchmarkData) -> np.ndarray | None:
    """ML-100k's 19 genre flags per item, in the data set's item index order (sorted raw ids)."""
    file = path / "u.item"
    if not file.exists():
        return None
    rows = {}
    for line in file.read_bytes().decode("latin-1").splitlines():
        fields = line.split("|")
        rows[int(fields[0])] = [float(x) for x in fields[5:24]]
    raw_ids = sorted(rows)[: data.n_items]
    return unit_rows(np.array([rows[i] for i in raw_ids]))


def train(data: BenchmarkData, model: str, epochs: int, seed: int) -> torch.nn.Module:
    config = TrainConfig(model=model, seed=seed, epochs=epochs, confidence_weighting=False)
    indexed = IndexedData.dense(data.train_users, data.train_items, data.n_users, data.n_items)

    def progress(row: dict) -> None:
        print(f"  epoch {row['epoch']}: loss {row['loss']:.4f}, val HR@10 "
              f"{row['val_hr@10']:.4f}", file=sys.stderr, flush=True)  # fmt: skip

    module, _ = build_and_train(
        config,
        indexed,
        validate=lambda m: evaluate_ranking(model_score_fn(m), data.validation, K),
        progress=progress,
    )
    return module.eval()


def ncf_metrics(
    scores: np.ndarray, candidates: np.ndarray, vectors: np.ndarray, diversity: float
) -> tuple[float, float]:
    """HR@10 and NDCG@10 with the re-ranker over each user's 100 candidates."""
    hits, gains = 0, 0.0
    pool = K * POOL_PER_ITEM
    for row, items in zip(scores, candidates, strict=True):
        best = np.argsort(-row, kind="stable")[:pool]
        order = rerank(items[best], row[best], vectors[items[best]], k=K, diversity=diversity,
                       rotation=NO_ROTATION, shown={}, engaged=())  # fmt: skip
        where = np.flatnonzero(best[order] == 0)  # column 0: the test item
        if len(where):
            hits += 1
            gains += 1.0 / np.log2(where[0] + 2.0)
    return hits / len(scores), gains / len(scores)


def served_lists(
    all_scores: np.ndarray, seen: list[set[int]], vectors: np.ndarray, diversity: float
) -> np.ndarray:
    pool = K * POOL_PER_ITEM
    lists = np.empty((len(all_scores), K), dtype=np.int64)
    for u, row in enumerate(all_scores):
        masked = row.copy()
        masked[list(seen[u])] = -np.inf
        best = np.argpartition(-masked, pool)[:pool]
        best = best[np.argsort(-masked[best], kind="stable")]
        order = rerank(best, masked[best], vectors[best], k=K, diversity=diversity,
                       rotation=NO_ROTATION, shown={}, engaged=())  # fmt: skip
        lists[u] = best[order]
    return lists


def mean_ild(vectors: np.ndarray, lists: np.ndarray) -> float:
    return round(float(np.mean([intra_list_diversity(vectors[row]) for row in lists])), 4)


def run(args: argparse.Namespace) -> dict:
    data = load(args.dataset, seed=args.seed)
    started = time.perf_counter()
    module = train(data, args.model, args.epochs, args.seed)
    train_seconds = time.perf_counter() - started
    with torch.no_grad():
        vectors = unit_rows(module.item_vectors().detach().double().numpy())  # type: ignore[operator]
    genres = genre_vectors(args.dataset, data)
    score = model_score_fn(module)
    test_scores = score(data.test.users, data.test.candidates)
    users = np.arange(data.n_users)
    all_scores = score(users, np.tile(np.arange(data.n_items), (data.n_users, 1)))
    seen: list[set[int]] = [set() for _ in users]
    for u, i in zip(data.full_users, data.full_items, strict=True):
        seen[int(u)].add(int(i))
    rows = []
    for diversity in np.round(np.linspace(0, 1, args.steps), 2):
        started = time.perf_counter()
        hr, ndcg = ncf_metrics(test_scores, data.test.candidates, vectors, float(diversity))
        lists = served_lists(all_scores, seen, vectors, float(diversity))
        row = {
            "diversity": float(diversity),
            "hr@10": round(hr, 4),
            "ndcg@10": round(ndcg, 4),
            "ild_embedding": mean_ild(vectors, lists),
            "ild_genre": None if genres is None else mean_ild(genres, lists),
            "coverage": round(len(np.unique(lists)) / data.n_items, 4),
            "seconds": round(time.perf_counter() - started, 2),
        }  # fmt: skip
        print(json.dumps(row), file=sys.stderr, flush=True)
        rows.append(row)
    return {
        "dataset": data.name, "model": args.model, "epochs": args.epochs, "k": K,
        "pool": K * POOL_PER_ITEM, "train_seconds": round(train_seconds, 1), "rows": rows,
    }  # fmt: skip


def plot(result: dict, path: Path) -> None:
    rows = result["rows"]
    x = [r["diversity"] for r in rows]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8))
    for key, colour in (("hr@10", "tab:blue"), ("ndcg@10", "tab:orange")):
        left.plot(x, [r[key] for r in rows], marker=".", color=colour, label=key.upper())
    left.set_xlabel("diversity (MMR λ)")
    left.set_ylabel("accuracy (NCF protocol)")
    left.legend()
    left.grid(alpha=0.3)
    series = [("ild_embedding", "intra-list diversity, embeddings", "tab:green"),
              ("ild_genre", "intra-list diversity, genres", "tab:olive"),
              ("coverage", "catalogue coverage", "tab:purple")]  # fmt: skip
    for key, label, colour in series:
        if rows[0][key] is not None:
            right.plot(x, [r[key] for r in rows], marker=".", color=colour, label=label)
    right.set_xlabel("diversity (MMR λ)")
    right.legend()
    right.grid(alpha=0.3)
    fig.suptitle(f"MMR re-ranking of {result['model']} on {result['dataset']} "
                 f"(top {result['pool']} → {result['k']})")  # fmt: skip
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--dataset", type=Path, required=True)
    p.add_argument("--model", default="neumf", choices=["neumf", "gmf", "mlp", "mf"])
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--steps", type=int, default=11, help="diversity values from 0 to 1")
    p.add_argument("--plot", type=Path, default=None)
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args()
    result = run(args)
    print(json.dumps(result, indent=2))
    if args.plot:
        plot(result, args.plot)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
