"""The console's charts, drawn on the server as SVG with matplotlib (already a dependency):
no chart library to ship to the browser, nothing to load from elsewhere, no script to allow.

Figures are built without pyplot (no global state), so renders may run in worker threads.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import date

from matplotlib.backends.backend_svg import FigureCanvasSVG
from matplotlib.dates import date2num
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from catalog_service.admin_recommender.schemas import EpochLog
from catalog_service.stats.schemas import OnlineDay, OnlineGroup

_METRICS = (("val_hr@10", "tab:blue"), ("val_ndcg@10", "tab:orange"))


def _svg(figure: Figure) -> bytes:
    FigureCanvasSVG(figure)
    figure.tight_layout()
    out = io.BytesIO()
    figure.savefig(out, format="svg")
    return out.getvalue()


def interactions_per_day(days: Sequence[tuple[date, int]]) -> bytes:
    """A bar per day."""
    figure = Figure(figsize=(12, 2.8))
    axes = figure.add_subplot()
    counts = [n for _, n in days]
    axes.bar([date2num(d) for d, _ in days], counts, color="tab:blue", width=0.8)
    axes.xaxis_date()
    axes.set_ylim(bottom=0, top=max(1, *counts) * 1.1)
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_ylabel("interactions")
    axes.grid(axis="y", alpha=0.3)
    if not any(counts):
        axes.text(0.5, 0.5, "no interaction in these days", ha="center", transform=axes.transAxes)
    figure.autofmt_xdate()
    return _svg(figure)


def training_curve(epochs: Sequence[EpochLog]) -> bytes:
    """Training loss per epoch (left) and validation HR@10 / NDCG@10 (right), per stage."""
    figure = Figure(figsize=(12, 3.2))
    loss, metric = figure.subplots(1, 2)
    stages = list(dict.fromkeys(e.stage for e in epochs))
    for stage in stages:
        rows = [e for e in epochs if e.stage == stage and e.loss is not None]
        loss.plot([e.epoch for e in rows], [e.loss for e in rows], marker=".", label=stage)
        for key, colour in _METRICS:
            points = [
                (e.epoch, e.metrics[key]) for e in epochs if e.stage == stage and key in e.metrics
            ]
            if points:
                metric.plot(*zip(*points, strict=True), marker=".", color=colour,
                            label=f"{key.removeprefix('val_').upper()} ({stage})")  # fmt: skip
    for axes in (loss, metric):
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    loss.set_xlabel("epoch")
    loss.set_ylabel("training loss")
    metric.set_xlabel("epoch")
    metric.set_ylabel("validation metric")
    for axes in (loss, metric):
        axes.grid(alpha=0.3)
        if axes.get_legend_handles_labels()[0]:
            axes.legend(fontsize="small")
    if not epochs:
        loss.text(0.5, 0.5, "no epoch recorded", ha="center", transform=loss.transAxes)
    return _svg(figure)


def group_label(group: OnlineGroup) -> str:
    """What made a list: `v5`, `v7 candidate`, `popularity`, `fallback content`…"""
    made = f"v{group.model_version}" if group.model_version is not None else ""
    if group.strategy:
        made = f"{made} {group.strategy}".strip()
    if group.source == "fallback":
        made = f"catalog {made}".strip()
    return f"{made or group.source}{f' {group.arm}' if group.arm else ''}"


def online_ctr(daily: Sequence[OnlineDay], days: Sequence[date]) -> bytes:
    """Click-through per day (left) and lists shown per day (right), a line per group."""
    figure = Figure(figsize=(12, 3.2))
    ctr, shown = figure.subplots(1, 2)
    series: dict[str, dict[date, OnlineDay]] = {}
    for row in daily:
        series.setdefault(group_label(row), {})[row.day] = row
    x = [date2num(d) for d in days]
    for label, by_day in sorted(series.items()):
        ctr.plot(x, [by_day[d].ctr if d in by_day else None for d in days], marker=".",
                 label=label)  # fmt: skip
        shown.plot(x, [by_day[d].impressions if d in by_day else 0 for d in days], marker=".",
                   label=label)  # fmt: skip
    ctr.set_ylabel("click-through")
    ctr.set_ylim(bottom=0)
    shown.set_ylabel("lists shown")
    shown.set_ylim(bottom=0)
    shown.yaxis.set_major_locator(MaxNLocator(integer=True))
    for axes in (ctr, shown):
        axes.xaxis_date()
        axes.grid(alpha=0.3)
        if axes.get_legend_handles_labels()[0]:
            axes.legend(fontsize="small")
    if not daily:
        ctr.text(0.5, 0.5, "no list shown in these days", ha="center", transform=ctr.transAxes)
    figure.autofmt_xdate()
    return _svg(figure)
