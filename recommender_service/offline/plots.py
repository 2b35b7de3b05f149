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
    """Validation and test HR@10 / NDCG@10 of every candidate side by side, the chosen starred.

    A figure is a value (one run) or a (mean, std) pair over seeds, drawn with its spread."""
    names = [n for n, row in candidates.items() if "skipped" not in row]
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    width = 0.38
    for ax, metric in zip(axes, ("hr@10", "ndcg@10"), strict=True):
        xs = list(range(len(names)))
        top, low = 0.0, 1.0
        for shift, key, colour, label in (
            (-width / 2, f"val_{metric}", "tab:blue", "validation"),
            (width / 2, metric, "tab:orange", "test"),
        ):
            means, spreads = zip(*(_mean_std(candidates[n][key]) for n in names), strict=True)
            bars = [x + shift for x in xs]
            ax.bar(bars, means, width, yerr=spreads, capsize=3, label=label, color=colour)
            top, low = max(top, *means), min(low, *means)
            if key == metric:  # the test figure, above its spread
                for x, m, d in zip(bars, means, spreads, strict=True):
                    ax.annotate(f"{m:.3f}", (x, m + d), ha="center", va="bottom", size=7)
        labels = [f"{n} *" if candidates[n].get("chosen") else n for n in names]
        ax.set_xticks(xs, labels, rotation=25 if len(names) > 4 else 0)
        ax.set_ylim(max(0.0, low - 0.05), top + 0.06)  # room for the legend above the bars
        ax.set_ylabel(metric.upper())
        ax.grid(alpha=0.3, axis="y")
    axes[0].legend(loc="upper left", ncol=2, fontsize=8)
    fig.suptitle(f"{title} (* chosen on validation)" if title else "* chosen on validation")
    _save(fig, path)


def _mean_std(figure: float | tuple[float, float] | list[float]) -> tuple[float, float]:
    if isinstance(figure, tuple | list):
        return float(figure[0]), float(figure[1])
    return float(figure), 0.0


def _save(fig: Any, path: Path) -> None:
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)


def plot_cold_start(
    table: dict[str, dict[str, dict[str, Any]]], path: Path, *, title: str = ""
) -> None:
    """HR@10 and NDCG@10 per method on the new items and on the new users (one panel each);
    a figure is a value or a (mean, std) pair over seeds, drawn with its spread."""
    tasks = list(table)
    fig, axes = plt.subplots(1, len(tasks), figsize=(5.2 * len(tasks), 3.6), squeeze=False)
    width = 0.38
    for ax, task in zip(axes[0], tasks, strict=True):
        methods = list(table[task])
        xs = list(range(len(methods)))
        for shift, metric, colour in (
            (-width / 2, "hr@10", "tab:blue"),
            (width / 2, "ndcg@10", "tab:orange"),
        ):
            means, spreads = zip(*(_mean_std(table[task][m][metric]) for m in methods), strict=True)
            bars = [x + shift for x in xs]
            ax.bar(bars, means, width, yerr=spreads, capsize=3, label=metric.upper(), color=colour)
            for x, m, d in zip(bars, means, spreads, strict=True):
                ax.annotate(f"{m:.2f}", (x, m + d), ha="center", va="bottom", size=7)
        ax.set_xticks(xs, methods, rotation=20, size=8)
        ax.set_title(task)
        ax.set_ylim(0, 1.05)
        ax.grid(alpha=0.3, axis="y")
    axes[0][0].legend(loc="upper right", fontsize=8)
    if title:
        fig.suptitle(title)
    _save(fig, path)
