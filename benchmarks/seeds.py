"""Mean ± standard deviation over seeds of `evaluate` runs (their --json files), per candidate.

    .venv/bin/python benchmarks/seeds.py benchmarks/out/ml1m_auto_s4[234].json \\
        --plot docs/img/ml1m_auto.png --title "auto on ML-1M"

Prints one markdown row per candidate (validation and test HR@10 / NDCG@10, seconds, how many
runs chose it), the standard error of one test figure (√(p(1−p)/users)), and the total
training time of the runs; with --plot, the test figures as bars with the seeds' spread.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np

from recommender_service.offline.plots import plot_candidates

FIGURES = ("val_hr@10", "val_ndcg@10", "hr@10", "ndcg@10", "seconds")


def load_runs(files: list[Path]) -> list[dict[str, Any]]:
    runs = [json.loads(f.read_text()) for f in files]
    for run, f in zip(runs, files, strict=True):
        if "candidates" not in run:
            raise SystemExit(f"{f}: no candidates (a baseline's JSON?)")
    return runs


def aggregate(runs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per candidate: (mean, std) of each figure over the runs that fitted it, runs, chosen."""
    names = list(dict.fromkeys(n for run in runs for n in run["candidates"]))
    table: dict[str, dict[str, Any]] = {}
    for name in names:
        rows = [r["candidates"][name] for r in runs if "hr@10" in r["candidates"].get(name, {})]
        if not rows:
            continue
        entry: dict[str, Any] = {"runs": len(rows), "chosen": sum(bool(r["chosen"]) for r in rows)}
        for key in FIGURES:
            values = np.array([r[key] for r in rows], dtype=np.float64)
            entry[key] = (float(values.mean()), float(values.std(ddof=1)) if len(rows) > 1 else 0.0)
        table[name] = entry
    return table


def markdown(table: dict[str, dict[str, Any]], runs: list[dict[str, Any]]) -> str:
    lines = [
        "| candidate | val HR@10 | val NDCG@10 | HR@10 | NDCG@10 | seconds | chosen |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, e in table.items():
        cells = [f"{e[k][0]:.4f} ± {e[k][1]:.4f}" for k in FIGURES[:4]]
        cells.append(f"{e['seconds'][0]:.0f} ± {e['seconds'][1]:.0f}")
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {e['chosen']} of {e['runs']} |")
    users = runs[0]["n_users"]
    hr = float(np.mean([r["hr@10"] for r in runs]))
    total = [r["train_seconds"] for r in runs]
    lines.append("")
    lines.append(
        f"standard error of one test HR@10 near {hr:.3f} over {users} users: "
        f"±{math.sqrt(hr * (1 - hr) / users):.4f}; total training per run: "
        f"{min(total):.0f}–{max(total):.0f} s"
    )
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("files", type=Path, nargs="+", help="evaluate --json outputs, one per seed")
    p.add_argument("--plot", type=Path, default=None)
    p.add_argument("--title", default="")
    args = p.parse_args(argv)
    runs = load_runs(args.files)
    table = aggregate(runs)
    print(markdown(table, runs))
    if args.plot:
        plot_candidates(table, args.plot, title=f"{args.title}, mean ± std over {len(runs)} seeds")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
