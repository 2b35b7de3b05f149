"""`python -m catalog_service seed [--seed N] [--scale F] [--if-empty]`: load the demo set."""

from __future__ import annotations

import argparse
import asyncio
import sys

from catalog_service.config import get_settings
from catalog_service.seed import writer
from catalog_service.seed.generator import DEMO_PASSWORD, DemoSet, generate
from shared.database import make_engine, make_sessionmaker


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m catalog_service seed",
        description="Load the reproducible demo set (200 users, 150 épreuves with PDFs, "
        "15,000 interactions, 1,470 evaluations, 750 comments at scale 1).",
    )
    parser.add_argument("--seed", type=int, default=42, help="random seed (default 42)")
    parser.add_argument(
        "--scale", type=float, default=1.0, help="fraction of the reference counts (default 1)"
    )
    parser.add_argument(
        "--if-empty",
        action="store_true",
        help="do nothing (exit 0) when the catalog already holds épreuves",
    )
    return parser


def accounts_table(demo: DemoSet) -> str:
    """The demo accounts, as printed at the end of a seed and listed in the README."""
    lines = [f"  {'email':<36} {'role':<8} niveau filière"]
    for user in demo.demo_accounts:
        lines.append(
            f"  {user.email:<36} {user.role.value:<8} {user.niveau or '-':<6} {user.filiere or '-'}"
        )
    lines.append(f"  password (every account): {DEMO_PASSWORD}")
    return "\n".join(lines)


async def _run(args: argparse.Namespace) -> int:
    settings = get_settings()
    engine = make_engine(settings.database_url, pool_size=2)
    sessionmaker = make_sessionmaker(engine)
    try:
        async with sessionmaker() as session:
            empty = await writer.is_empty(session=session)
        if not empty:
            if args.if_empty:
                print("seed: the catalog already holds épreuves; nothing to do")
                return 0
            print(
                "seed: the catalog is not empty (use --if-empty to skip quietly)", file=sys.stderr
            )
            return 1
        demo = generate(seed=args.seed, scale=args.scale)
        print(f"seed: writing the demo set (seed {args.seed}, scale {args.scale:g})", flush=True)
        report = await writer.write(
            sessionmaker=sessionmaker,
            demo=demo,
            upload_root=settings.uploads_path,
            max_bytes=settings.max_upload_bytes,
            progress=lambda message: print(f"seed:   {message}", flush=True),
        )
    finally:
        await engine.dispose()
    print(
        f"seed: done in {report.seconds:.1f} s: {report.users} users, {report.epreuves} épreuves, "
        f"{report.interactions} interactions, {report.evaluations} evaluations, "
        f"{report.comments} comments, {report.events} outbox events\n"
        f"Demo accounts:\n{accounts_table(demo)}"
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(sys.argv[1:] if argv is None else argv)
    if args.scale <= 0:
        print("seed: --scale must be positive", file=sys.stderr)
        return 2
    return asyncio.run(_run(args))
