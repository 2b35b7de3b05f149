"""Training curves as a PNG (matplotlib's Agg backend: no display needed)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # before pyplot: no display on servers
import matplotlib.pyplot as plt


def plot_training(history: list[dict], path: Path, *, title: str = "") -> None:
    """Loss (left) and validation HR@10 / NDCG@10 (right) per epoch."""
    epochs = [row["epoch"] for row in history]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.6))
    left.plot(epochs, [row["loss"] for row in history], marker=".", color="tab:gray")
    left.set_xlabel("epoch")
    left.set_ylabel("training loss (BCE)")
    for key, colour in (("val_hr@10", "tab:blue"), ("val_ndcg@10", "tab:orange")):
        points = [(row["epoch"], row[key]) for row in history if key in row]
        if points:
            xs, ys = zip(*points, strict=True)
            right.plot(xs, ys, marker=".", color=colour, label=key.removeprefix("val_").upper())
    right.set_xlabel("epoch")
    right.set_ylabel("validation metric")
    right.legend(loc="lower right")
    right.grid(alpha=0.3)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
