"""`python -m shared.devstack run | test [-- pytest args] | migrate | seed | train`.

Where DATABASE_URL / REDIS_URL are unset, each command starts embedded servers under DATA_DIR
(`test`: in a throw-away folder) and stops them at the end; with the variables set, it uses
those servers and starts none.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from shared.devstack.embedded import servers
from shared.devstack.runner import run

SERVICES = ("catalog_service", "recommender_service")


def _data_dir() -> Path:
    return Path(os.environ.get("DATA_DIR", ".data")).resolve()


def _secret(name: str, data_dir: Path) -> str:
    """A secret kept in DATA_DIR across runs, generated the first time (never committed)."""
    path = data_dir / name
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(32))
        path.chmod(0o600)
    return path.read_text().strip()


def _service_env(data_dir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("DATA_DIR", str(data_dir))
    env.setdefault("SERVICE_API_KEY", _secret("service_api_key", data_dir))
    env.setdefault("JWT_SECRET", _secret("jwt_secret", data_dir))
    return env


def _python(module: str, *args: str, env: dict[str, str]) -> int:
    return subprocess.call([sys.executable, "-m", module, *args], env=env)  # noqa: S603


def _test(pytest_args: list[str]) -> int:
    # Throw-away servers in a temp folder; the suite creates its own databases on them. The
    # tests that restart PostgreSQL under load find it through PostgresControl.env().
    scratch = Path(tempfile.mkdtemp(prefix="epreuves-test-"))
    try:
        with servers(scratch, keep=False, database="postgres") as started:
            env = {**_service_env(scratch), **started.env}
            if started.postgres is not None:
                env.update(started.postgres.control.env())
            return subprocess.call([sys.executable, "-m", "pytest", *pytest_args], env=env)  # noqa: S603
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m shared.devstack")
    parser.add_argument("command", choices=["run", "test", "migrate", "seed", "train"])
    parser.add_argument("rest", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    rest = [a for a in args.rest if a != "--"]
    if args.command == "test":
        return _test(rest)

    data_dir = _data_dir()
    with servers(data_dir, keep=True, database="epreuves") as started:
        env = {**_service_env(data_dir), **started.env}
        if args.command == "run":
            scale = float(os.environ.get("DEVSTACK_SEED_SCALE", "1"))
            return run(env, started, seed_scale=scale)
        for service in SERVICES:
            if _python(service, "migrate", env=env) != 0:
                raise SystemExit(f"[devstack] {service} migrate failed")
        if args.command == "seed":
            return _python("catalog_service", "seed", *rest, env=env)
        if args.command == "train":
            return _python("recommender_service", "train", *rest, env=env)
        return 0
