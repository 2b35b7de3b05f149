"""One process against `torchrun --nproc_per_node=N … evaluate --distributed`, same protocol.

    nice -n 10 .venv/bin/python benchmarks/distributed.py --dataset ../shared/data/ml-100k \\
        --models neumf,mf --seeds 42 --out benchmarks/out/distributed \\
        --plot docs/img/ml100k_distributed.png

Runs the evaluate command (one at a time, each as its own process tree, bounded by --timeout)
once alone and once under torchrun for each model and seed, keeps each run's JSON, and prints
one markdown row per run: HR@10, NDCG@10, epochs, seconds per epoch, the command's own training
time and the wall time of the whole command (start-up, data loading and evaluation included).
With --plot, the figures and the wall times side by side; --rows FILE redraws an earlier run's
table and plot from its `<dataset>_rows.json` without running anything.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

EVALUATE = (sys.executable, "-m", "recommender_service", "evaluate")


def command(dataset: Path, model: str, seed: int, processes: int, out: Path) -> list[str]:
    args = ["--dataset", str(dataset), "--model", model, "--seed", str(seed), "--quiet"]
    args += ["--device", "cpu", "--json", str(out)]
    if processes == 1:
        return [*EVALUATE, *args]
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
    torchrun.append(f"--nproc_per_node={processes}")
    return [*torchrun, "-m", "recommender_service", "evaluate", *args, "--distributed"]


def run_one(argv: list[str], timeout: float) -> float:
    """The command's wall time; past `timeout`, its whole process group (torchrun's workers
    too) is killed."""
    started = time.perf_counter()
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, start_new_session=True)  # noqa: S603
    try:
        code = process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        raise
    if code != 0:
        raise subprocess.CalledProcessError(code, argv)
    return time.perf_counter() - started


def row(result: dict[str, Any], wall: float) -> dict[str, Any]:
    return {
        "model": result["model"],
        "seed": result["hyperparameters"]["seed"],
        "processes": result["world_size"],
        "hr@10": result["hr@10"],
        "ndcg@10": result["ndcg@10"],
        "epochs": result["epochs"],
        "seconds_per_epoch": result["seconds_per_epoch"],
        "train_seconds": result["train_seconds"],
        "wall_seconds": round(wall, 1),
    }


def markdown(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| model | seed | processes | HR@10 | NDCG@10 | epochs | s / epoch | train s | wall s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['model']} | {r['seed']} | {r['processes']} | {r['hr@10']:.4f} | "
            f"{r['ndcg@10']:.4f} | {r['epochs']} | {r['seconds_per_epoch']} | "
            f"{r['train_seconds']:.0f} | {r['wall_seconds']:.0f} |"
        )
    return "\n".join(lines)


def plot(rows: list[dict[str, Any]], path: Path, title: str) -> None:
    labels = [f"{r['model']} s{r['seed']}\n{r['processes']} proc." for r in rows]
    fig, (quality, seconds) = plt.subplots(1, 2, figsize=(11, 4))
    x = range(len(rows))
    for offset, key in ((-0.2, "hr@10"), (0.2, "ndcg@10")):
        bars = quality.bar([i + offset for i in x], [r[key] for r in rows], 0.4, label=key)
        quality.bar_label(bars, fmt="%.3f", fontsize=7)
    quality.set_xticks(list(x), labels, fontsize=8)
    quality.set_ylabel("test figure")
    quality.set_ylim(0, 1)
    quality.legend(loc="upper right")
    bars = seconds.bar(list(x), [r["wall_seconds"] for r in rows], 0.6, color="tab:gray")
    seconds.bar_label(bars, fmt="%.0f s", fontsize=7)
    seconds.set_xticks(list(x), labels, fontsize=8)
    seconds.set_ylabel("wall time of the command (s)")
    fig.suptitle(title)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--dataset", type=Path, required=True)
    p.add_argument("--models", default="neumf")
    p.add_argument("--seeds", default="42")
    p.add_argument("--processes", type=int, default=2)
    p.add_argument("--timeout", type=float, default=1800.0, help="seconds per command")
    p.add_argument("--out", type=Path, default=Path("benchmarks/out/distributed"))
    p.add_argument("--plot", type=Path, default=None)
    p.add_argument("--rows", type=Path, default=None, help="print and plot these rows, run nothing")
    args = p.parse_args()
    if args.rows:
        rows = json.loads(args.rows.read_text())
        print(markdown(rows))
        if args.plot:
            plot(rows, args.plot, f"{args.dataset.name}: one process vs {args.processes}")
        return 0
    args.out.mkdir(parents=True, exist_ok=True)
    rows = []
    for model in args.models.split(","):
        for seed in (int(s) for s in args.seeds.split(",")):
            for processes in (1, args.processes):
                out = args.out / f"{args.dataset.name}_{model}_s{seed}_p{processes}.json"
                wall = run_one(command(args.dataset, model, seed, processes, out), args.timeout)
                rows.append(row(json.loads(out.read_text()), wall))
                print(markdown(rows[-1:]).splitlines()[-1], flush=True)
    print(markdown(rows))
    (args.out / f"{args.dataset.name}_rows.json").write_text(json.dumps(rows, indent=2))
    if args.plot:
        plot(rows, args.plot, f"{args.dataset.name}: one process vs {args.processes}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
