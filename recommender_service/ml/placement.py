"""Where training runs, as `train` and `evaluate` take it on the command line.

Apart from `distributed` so that parsing the service's commands imports no torch (`migrate`
and `consume` start without it).
"""

from __future__ import annotations

import argparse

DEVICES = ("auto", "cpu", "cuda")


def add_options(parser: argparse.ArgumentParser, *, shared: str) -> None:
    """`--device` and `--distributed`, as `train` and `evaluate` take them; `shared` says
    what `--distributed` shares."""
    parser.add_argument(
        "--device",
        choices=DEVICES,
        default="auto",
        help="where the SGD families train (auto: CUDA when a GPU is visible)",
    )
    parser.add_argument(
        "--distributed",
        action="store_true",
        help=f"under torchrun: {shared} (DistributedDataParallel; SGD families only)",
    )
