"""Training curves and candidate comparisons as PNGs (matplotlib's Agg backend: no display)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # before pyplot: no display on servers
import matplotlib.pyplot as plt


def plot_training(history: list[dict], path: Path, *, title: str = "") -> None:
    """Loss (left, when the model has one) and validation HR@10 / NDCG@10 (right) per step:
    an epoch, an ALS sweep, or a λ tried by EASE's search."""
    steps = [row["epoch"] for row in history]
    losses = [(s, row["loss"]) for s, row in zip(steps, history, strict=True) if row.get("loss")]
    fig, axes = plt.subplots(1, 2 if losses else 1, figsize=(10 if losses else 5.5, 3.6))
    if losses:
        left, right = axes
        xs, ys = zip(*losses, strict=True)
        left.plot(xs, ys, marker=".", color="tab:gray")
        left.set_xlabel("epoch")
        left.set_ylabel("training loss (BCE)")
    else:
        right = axes
    for key, colour in (("val_hr@10", "tab:blue"), ("val_ndcg@10", "tab:orange")):
        points = [(row["epoch"], row[key]) for row in history if key in row]
        if points:
            xs, ys = zip(*points, strict=True)
            right.plot(xs, ys, marker=".", color=colour, label=key.removeprefix("val_").upper())
    right.set_xlabel("epoch" if losses else "step")
    right.set_ylabel("validation metric")
    right.legend(loc="lower right")
    right.grid(alpha=0.3)
    if title:
        fig.suptitle(title)
    _save(fig, path)


def plot_candidates(candidates: dict[str, dict[str, Any]], path: Path, *, title: str = "") -> None:
    """Validation and test HR@10 / NDCG@10 of every candidate side by side, the chosen starred."""
    names = [n for n, row in candidates.items() if "skipped" not in row]
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    width = 0.38
    for ax, metric in zip(axes, ("hr@10", "ndcg@10"), strict=True):
        xs = range(len(names))
        val = [candidates[n][f"val_{metric}"] for n in names]
        test = [candidates[n][metric] for n in names]
        ax.bar([x - width / 2 for x in xs], val, width, label="validation", color="tab:blue")
        ax.bar([x + width / 2 for x in xs], test, width, label="test", color="tab:orange")
        for x, value in zip(xs, test, strict=True):
            ax.annotate(f"{value:.3f}", (x + width / 2, value), ha="center", va="bottom", size=7)
        labels = [f"{n} *" if candidates[n].get("chosen") else n for n in names]
        ax.set_xticks(list(xs), labels)
        low = min(min(val), min(test))
        ax.set_ylim(max(0.0, low - 0.05), max(max(val), max(test)) + 0.03)
        ax.set_ylabel(metric.upper())
        ax.grid(alpha=0.3, axis="y")
    axes[0].legend(loc="lower left")
    fig.suptitle(f"{title} (* chosen on validation)" if title else "* chosen on validation")
    _save(fig, path)


def _save(fig: Any, path: Path) -> None:
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
