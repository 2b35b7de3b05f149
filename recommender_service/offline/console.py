"""What the `train` and `evaluate` commands print: a progress bar per training stage, and the
table of `auto`'s candidates."""

from __future__ import annotations

from typing import Any

from tqdm import tqdm


class StageBar:
    """One tqdm bar that restarts at each stage (`select:ease`, `select:neumf`, `refit` …)."""

    def __init__(self, *, disable: bool = False, file: Any = None) -> None:
        self.bar = tqdm(total=None, unit="step", disable=disable, file=file)
        self.stage: str | None = None

    def __call__(self, row: dict[str, Any]) -> None:
        stage = str(row.get("stage", "train"))
        if stage != self.stage:
            self.stage = stage
            total = row.get("epochs")
            self.bar.reset()
            self.bar.total = total if isinstance(total, int) else None  # reset(None) keeps it
            self.bar.set_description(stage)
        shown = {k: row.get(k) for k in ("loss", "val_hr@10", "val_ndcg@10")}
        self.bar.set_postfix({k: f"{v:.4f}" for k, v in shown.items() if isinstance(v, float)})
        self.bar.update(1)

    def close(self) -> None:
        self.bar.close()


def candidates_table(candidates: dict[str, dict[str, Any]], k: int = 10) -> str:
    """Validation and test HR/NDCG of every candidate, seconds, the chosen one marked."""
    head = f"{'candidate':<10} {'val HR':>8} {'val NDCG':>8} {'HR':>8} {'NDCG':>8} {'seconds':>8}"
    lines = [head]
    for name, row in candidates.items():
        if "skipped" in row:
            lines.append(f"{name:<10} skipped: {row['skipped']}")
            continue
        figures = [row.get(f"val_hr@{k}"), row.get(f"val_ndcg@{k}")]
        figures += [row.get(f"hr@{k}"), row.get(f"ndcg@{k}")]
        cells = " ".join(f"{v:>8.4f}" if isinstance(v, float) else f"{'–':>8}" for v in figures)
        mark = "  ← chosen" if row.get("chosen") else ""
        lines.append(f"{name:<10} {cells} {row.get('seconds', 0.0):>8.1f}{mark}")
    return "\n".join(lines)
