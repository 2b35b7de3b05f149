"""Command line of the recommender (DESIGN §7): serve, consume, train, evaluate, migrate.

python -m recommender_service serve
python -m recommender_service consume
python -m recommender_service train [--model neumf] [--epochs 30] [--if-missing] [--plot PATH]
                                   [--sync-timeout SECONDS]
python -m recommender_service evaluate …   (offline evaluation, see its --help)
python -m recommender_service migrate
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis

from recommender_service.config import Settings, get_settings
from shared.database import make_engine, make_sessionmaker

MODELS = ("neumf", "gmf", "mlp", "mf")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m recommender_service")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("serve", help="run the HTTP API (with the consumer and the scheduler)")
    sub.add_parser("consume", help="run the stream consumer alone")
    sub.add_parser("migrate", help="migrate the recommender schema to head")
    sub.add_parser("evaluate", help="offline evaluation (options: evaluate --help)", add_help=False)
    train = sub.add_parser("train", help="train a model version now")
    train.add_argument("--model", choices=MODELS, default=None)
    train.add_argument("--epochs", type=int, default=None)
    train.add_argument("--batch-size", type=int, default=None)
    train.add_argument("--lr", type=float, default=None)
    train.add_argument("--embedding-dim", type=int, default=None)
    train.add_argument("--seed", type=int, default=None)
    train.add_argument(
        "--if-missing", action="store_true", help="train only when no version is active"
    )
    train.add_argument("--plot", type=Path, default=None, help="PNG of the training curves")
    train.add_argument(
        "--sync-timeout",
        type=float,
        default=180.0,
        help="seconds to wait for the read model to catch up with the stream before training",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    # One INFO line per outgoing request (the bootstrap pages through the export) is noise.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    if argv[:1] == ["evaluate"]:
        from recommender_service.ml.evaluate_cli import main as evaluate_main

        return evaluate_main(argv[1:])
    args = _parser().parse_args(argv)
    settings = get_settings()
    if args.command == "serve":
        import uvicorn

        from recommender_service.main import create_app

        # Several workers share the port: each builds its own app (a factory by import path).
        app: Any = create_app(settings) if settings.recommender_workers == 1 else None
        uvicorn.run(
            app or "recommender_service.main:create_app",
            factory=app is None,
            workers=settings.recommender_workers,
            host=settings.recommender_host,
            port=settings.recommender_port,
            access_log=settings.access_log,
        )
        return 0
    if args.command == "migrate":
        from migrations.runner import upgrade

        upgrade("recommender", settings.database_url)
        return 0
    if args.command == "consume":
        return asyncio.run(_consume(settings))
    return asyncio.run(_train(settings, args))


async def _consume(settings: Settings) -> int:
    from recommender_service.consumer.runner import make_consumer, run_forever

    engine = make_engine(settings.database_url, pool_size=2)
    redis = aioredis.from_url(settings.redis_url, decode_responses=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        sessionmaker = make_sessionmaker(engine)
        consumer = make_consumer(settings, redis=redis, sessionmaker=sessionmaker)
        await run_forever(consumer, settings, sessionmaker=sessionmaker, stop=stop)
    finally:
        await redis.aclose()
        await engine.dispose()
    return 0


async def _train(settings: Settings, args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from recommender_service.consumer.runner import sync_once
    from recommender_service.errors import NotEnoughData, TrainingInProgress
    from recommender_service.registry import service as registry
    from recommender_service.training import jobs
    from recommender_service.training.lease import reap

    engine = make_engine(settings.database_url, pool_size=2)
    redis = aioredis.from_url(settings.redis_url, decode_responses=True)
    sessionmaker = make_sessionmaker(engine)
    try:
        async with sessionmaker() as session:
            active = await registry.get_active(session=session)
        if args.if_missing and active is not None:
            print(f"version {active.id} is active; nothing to do (--if-missing)")
            return 0
        # The first model must see all the data: wait until the stream is applied (by this
        # process or by a serving replica's consumer).
        applied = await sync_once(
            settings, redis=redis, sessionmaker=sessionmaker, timeout_seconds=args.sync_timeout,
            progress=lambda line: print(line, flush=True),
        )  # fmt: skip
        print(f"read model synced ({applied} new stream entries)")
        options = jobs.TrainOptions(
            model=args.model, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
            embedding_dim=args.embedding_dim, seed=args.seed,
        )  # fmt: skip
        # The CLI owns the machine: every core for torch.
        settings = settings.model_copy(update={"torch_threads": _cores()})
        # A run whose owner died would hold the lock until its lease expires.
        for version_id in await reap(
            sessionmaker=sessionmaker, redis=redis, ttl_ms=settings.training_lock_ttl_ms
        ):
            print(f"version {version_id}: its run was abandoned; marked failed")
        try:
            run = await jobs.start(
                sessionmaker=sessionmaker, redis=redis, settings=settings, options=options,
                trigger="cli",
            )  # fmt: skip
        except TrainingInProgress as exc:
            print(f"not started: {exc.message}", file=sys.stderr)
            return 0 if args.if_missing else 1
        bar = tqdm(total=jobs.train_config(settings, options).epochs, unit="epoch", desc="")
        try:
            outcome = await jobs.execute(
                run, sessionmaker=sessionmaker, redis=redis, settings=settings,
                progress=lambda entry: _advance(bar, entry),
            )  # fmt: skip
        except NotEnoughData as exc:
            print(f"version {run.version_id} not trained: {exc.message}", file=sys.stderr)
            return 0 if args.if_missing else 1
        finally:
            bar.close()
        _report(outcome, args.plot or settings.data_dir / "runs" / f"{outcome.version_id}.png")
        return 0
    finally:
        await redis.aclose()
        await engine.dispose()


def _cores() -> int:
    import os

    return max(1, os.cpu_count() or 1)


def _advance(bar: Any, entry: dict[str, Any]) -> None:
    stage = str(entry.get("stage", "train"))
    # Model selection, then the refit on every interaction (tqdm shows the desc as "stage: ").
    if bar.desc != f"{stage}: ":
        epochs = entry.get("epochs")
        bar.reset(total=epochs if isinstance(epochs, int) else None)
        bar.set_description(stage)
    shown = {"loss": entry.get("loss"), "val_hr@10": entry.get("val_hr@10")}
    bar.set_postfix({k: f"{v:.4f}" for k, v in shown.items() if isinstance(v, int | float)})
    bar.update(1)


def _report(outcome: Any, plot: Path) -> None:
    from recommender_service.ml.plots import plot_training
    from shared.model_metrics import split_metrics

    metrics, popularity = split_metrics(outcome.metrics)
    print(f"version {outcome.version_id}: trained in {outcome.train_seconds:.1f}s")
    for name in sorted(metrics):
        value = metrics[name]
        baseline = popularity.get(name)
        beside = f"   (popularity {baseline:.4f})" if isinstance(baseline, int | float) else ""
        if isinstance(value, int | float):
            print(f"  {name:>14} {value:.4f}{beside}")
    print(f"{outcome.decision.label}: {outcome.decision.reason}")
    with contextlib.suppress(Exception):
        plot.parent.mkdir(parents=True, exist_ok=True)
        plot_training(outcome.history, plot, title=f"version {outcome.version_id}")
        print(f"training curves: {plot}")


if __name__ == "__main__":
    sys.exit(main())
