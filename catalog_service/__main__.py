"""Command line: python -m catalog_service serve | migrate | create-user | seed | outbox-backlog."""

import argparse
import asyncio
import importlib.util
import os
import sys
from typing import Any

from catalog_service.config import Settings, get_settings


def proxy_options(settings: Settings) -> dict[str, Any]:
    """uvicorn's forwarded-header options: believed only from FORWARDED_ALLOW_IPS (uvicorn's
    own default trusts 127.0.0.1, which lets any local client pick its address)."""
    allowed = settings.forwarded_allow_ips.strip()
    return {"proxy_headers": bool(allowed), "forwarded_allow_ips": allowed or None}


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    settings = get_settings()
    uvicorn.run(
        "catalog_service.main:create_app",
        factory=True,
        host=settings.catalog_host,
        port=settings.catalog_port,
        log_level=settings.log_level.lower(),
        # Several worker processes share the port; each runs its own pool and outbox relay
        # (the relays take turns through an advisory lock, so stream order is kept).
        workers=args.workers,
        **proxy_options(settings),
    )
    return 0


def _migrate(_args: argparse.Namespace) -> int:
    from migrations.runner import upgrade

    upgrade("catalog", get_settings().database_url)
    return 0


async def _create_user(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from catalog_service.errors import Conflict
    from catalog_service.users.schemas import UserCreate
    from catalog_service.users.service import create_user
    from shared.database import make_engine, make_sessionmaker

    try:
        data = UserCreate(
            email=args.email,
            password=args.password,
            full_name=args.full_name or args.email.split("@")[0],
            role=args.role,
            niveau=args.niveau,
            filiere=args.filiere,
        )
    except ValidationError as exc:
        print(f"invalid user: {exc}", file=sys.stderr)
        return 2
    engine = make_engine(get_settings().database_url, pool_size=1)
    try:
        async with make_sessionmaker(engine)() as session:
            user = await create_user(session=session, data=data)
    except Conflict as exc:
        print(exc.message, file=sys.stderr)
        return 1
    finally:
        await engine.dispose()
    print(f"created {user.role} {user.email} (id {user.id})")
    return 0


def _seed(rest: list[str]) -> int:
    if importlib.util.find_spec("catalog_service.seed.cli") is None:
        print("seed: not available yet", file=sys.stderr)
        return 0
    from catalog_service.seed.cli import main as seed_main  # type: ignore[import-not-found,unused-ignore]

    return int(seed_main(rest) or 0)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["seed"]:  # its options belong to the seed command itself
        return _seed(argv[1:])
    if argv[:1] == ["outbox-backlog"]:
        from catalog_service.outbox.cli import main as backlog_main

        return backlog_main(argv[1:])
    parser = argparse.ArgumentParser(prog="python -m catalog_service")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser(
        "serve", help="run the API with uvicorn (CATALOG_HOST:CATALOG_PORT)"
    )
    serve.add_argument(
        "--workers",
        type=int,
        default=int(os.environ.get("CATALOG_WORKERS", "1")),
        help="uvicorn worker processes (default: CATALOG_WORKERS or 1)",
    )
    commands.add_parser("migrate", help="upgrade the catalog schema to head")
    commands.add_parser("seed", help="load demo data (options: see `seed --help`)")
    commands.add_parser(
        "outbox-backlog", help="events not yet on the stream (options: `outbox-backlog --help`)"
    )
    create = commands.add_parser("create-user", help="create an account of any role")
    create.add_argument("--email", required=True)
    create.add_argument("--password", required=True)
    create.add_argument("--role", required=True, choices=["student", "teacher", "admin"])
    create.add_argument("--full-name", dest="full_name")
    create.add_argument("--niveau", choices=["L1", "L2", "L3", "M1", "M2"])
    create.add_argument("--filiere", choices=["MATH", "INFO", "PHYSIQUE", "CHIMIE"])
    args = parser.parse_args(argv)
    if args.command == "serve":
        return _serve(args)
    if args.command == "migrate":
        return _migrate(args)
    return asyncio.run(_create_user(args))


if __name__ == "__main__":
    sys.exit(main())
