"""`make run` as a real process: `python -m shared.devstack run` with its own DATA_DIR, free
ports and its own embedded PostgreSQL and Redis (no seed, no first training: the runner itself
is the point). What it started is killed with SIGKILL, one at a time, and must come back while
the rest keeps answering; then a Ctrl-C to its process group stops everything. One story, in
file order."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil
import pytest

from catalog_service.auth.tokens import TokenSigner, TokenType
from shared.devstack import PostgresControl
from shared.devstack.embedded import postmaster_pid
from shared.service_auth import SERVICE_KEY_HEADER
from tests.e2e.servers import free_port

pytestmark = pytest.mark.slow

JWT_SECRET = "devstack-run-test-secret-0123456789"
SERVICE_KEY = "devstack-run-test-service-key"
ADMIN = ("admin@devstack.example", "admin-password-123")
START_TIMEOUT_S = 300  # migrations and two service start-ups on a loaded 2-core machine
BACK_TIMEOUT_S = 60  # the issue asks for 15 s; the bound is generous, the figure is printed


@dataclass
class Runner:
    process: subprocess.Popen[bytes]
    output: Path
    data_dir: Path
    catalog: str
    recommender: str

    def said(self) -> str:
        return self.output.read_text(errors="replace")

    def child(self, marker: str) -> psutil.Process | None:
        """The runner's live child whose command line contains `marker` (None between a death
        and the restart)."""
        found = []
        for process in psutil.Process(self.process.pid).children():
            try:
                if process.status() != psutil.STATUS_ZOMBIE and marker in " ".join(
                    process.cmdline()
                ):
                    found.append(process)
            except psutil.NoSuchProcess:
                continue
        assert len(found) <= 1, found
        return found[0] if found else None

    def pid_of(self, marker: str) -> int:
        child = self.child(marker)
        assert child is not None, marker
        return child.pid

    def postmaster(self) -> int | None:
        return postmaster_pid(self.data_dir / "postgres")


def _status(url: str, headers: dict[str, str] | None = None) -> int | str:
    try:
        return httpx.get(url, headers=headers, timeout=5).status_code
    except httpx.HTTPError as exc:
        return type(exc).__name__


def _until(check: Callable[[], bool], timeout_s: float, what: str, runner: Runner) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        if check():
            return time.monotonic() - started
        assert runner.process.poll() is None, f"the runner exited:\n{runner.said()[-3000:]}"
        time.sleep(0.2)
    raise AssertionError(f"not within {timeout_s} s: {what}\n{runner.said()[-3000:]}")


@pytest.fixture(scope="module")
def runner() -> Iterator[Runner]:
    # Not under pytest's temp root: another pytest session on the machine resets its mode to
    # 0700 at start, and a root runner's PostgreSQL runs as another OS user.
    scratch = Path(tempfile.mkdtemp(prefix="epreuves-devstack-run-"))
    try:
        yield from _runner(scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _runner(scratch: Path) -> Iterator[Runner]:
    catalog_port, recommender_port = free_port(), free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DATABASE_URL", "REDIS_URL", *PostgresControl.ENV}
    }
    env.update(
        DATA_DIR=str(scratch / "data"),
        CATALOG_PORT=str(catalog_port),
        RECOMMENDER_PORT=str(recommender_port),
        DEVSTACK_SEED_SCALE="0",
        JWT_SECRET=JWT_SECRET,
        SERVICE_API_KEY=SERVICE_KEY,
        FIRST_ADMIN_EMAIL=ADMIN[0],
        FIRST_ADMIN_PASSWORD=ADMIN[1],
        AUTO_RETRAIN_ENABLED="false",
        LOG_LEVEL="WARNING",
    )
    output = scratch / "run.log"
    with output.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "shared.devstack", "run"],
            env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    built = Runner(
        process,
        output,
        scratch / "data",
        f"http://127.0.0.1:{catalog_port}",
        f"http://127.0.0.1:{recommender_port}",
    )
    try:
        _until(lambda: "épreuves-reco is up" in built.said(), START_TIMEOUT_S, "stack up", built)
        yield built
    finally:
        if process.poll() is None:  # a test failed before the Ctrl-C test: stop it all
            os.killpg(process.pid, signal.SIGINT)
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                for child in psutil.Process(process.pid).children(recursive=True):
                    child.kill()
                process.kill()


def _admin_headers() -> dict[str, str]:
    token = TokenSigner(secret=JWT_SECRET).issue(1, TokenType.ACCESS, version=0)  # first admin
    return {"Authorization": f"Bearer {token}"}


def _catalog_answers(runner: Runner) -> int | str:
    """An authenticated catalog request (the token's user is read from PostgreSQL)."""
    return _status(f"{runner.catalog}/v1/epreuves", _admin_headers())


def _ready(base_url: str) -> bool:
    return _status(f"{base_url}/readyz") == 200


def _recommender_serves(runner: Runner) -> bool:
    """Ready, and answering a recommendation request (the popularity fallback: no model)."""
    answer = _status(
        f"{runner.recommender}/v1/users/1/recommendations", {SERVICE_KEY_HEADER: SERVICE_KEY}
    )
    return _ready(runner.recommender) and answer == 200


def test_a_killed_recommender_is_serving_again_while_the_catalog_answers(runner: Runner) -> None:
    assert _catalog_answers(runner) == 200
    victim = runner.pid_of("recommender_service serve")
    catalog_pid = runner.pid_of("catalog_service serve")
    catalog_answers: Counter[int | str] = Counter()
    killed = time.monotonic()
    os.kill(victim, signal.SIGKILL)

    def serving_again() -> bool:
        catalog_answers[_catalog_answers(runner)] += 1
        fresh = runner.child("recommender_service serve")
        return fresh is not None and fresh.pid != victim and _recommender_serves(runner)

    _until(serving_again, BACK_TIMEOUT_S, "the recommender serving again", runner)
    back_s = time.monotonic() - killed
    print(f"recommender serving again {back_s:.1f} s after kill -9")
    assert catalog_answers.keys() == {200}, catalog_answers
    assert runner.pid_of("catalog_service serve") == catalog_pid
    assert "recommender_service died (killed by SIGKILL); restarting it in 0.5 s" in runner.said()


def test_a_killed_embedded_redis_is_started_again_on_its_socket(runner: Runner) -> None:
    victim = runner.pid_of("redis-server")
    os.kill(victim, signal.SIGKILL)

    def back() -> bool:
        fresh = runner.child("redis-server")
        return fresh is not None and fresh.pid != victim and _ready(runner.catalog)

    _until(back, BACK_TIMEOUT_S, "Redis started again", runner)
    fresh = runner.child("redis-server")
    assert fresh is not None
    assert f"unixsocket:{runner.data_dir / 'redis' / 'redis.sock'}" in " ".join(fresh.cmdline())
    assert "redis died (killed by SIGKILL); restarting it in 0.5 s" in runner.said()


def test_a_killed_embedded_postgres_is_started_again_on_its_data(runner: Runner) -> None:
    first = runner.postmaster()
    assert first is not None
    psutil.Process(first).kill()

    def back() -> bool:
        pid = runner.postmaster()
        return pid not in (None, first) and _catalog_answers(runner) == 200

    _until(back, BACK_TIMEOUT_S, "PostgreSQL started again", runner)
    # The first admin, created before the crash, is still there: same data folder.
    token = httpx.post(
        f"{runner.catalog}/v1/auth/token", data={"username": ADMIN[0], "password": ADMIN[1]}
    )
    assert token.status_code == 200, token.text
    assert "postgres died (not running); restarting it in 0.5 s" in runner.said()
    _until(lambda: _recommender_serves(runner), BACK_TIMEOUT_S, "the recommender serving", runner)


def test_ctrl_c_stops_everything_and_leaves_no_process(runner: Runner) -> None:
    postmaster = runner.postmaster()
    assert postmaster is not None
    processes = [
        *psutil.Process(runner.process.pid).children(recursive=True),
        psutil.Process(postmaster),
        *psutil.Process(postmaster).children(recursive=True),
    ]
    names = Counter(p.name() for p in processes)
    assert names["redis-server"] == 1 and names["postgres"] >= 2, names
    before = len(runner.said())

    os.killpg(runner.process.pid, signal.SIGINT)  # what Ctrl-C in the terminal sends

    assert runner.process.wait(120) == 0
    left = [p for p in processes if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    assert left == []
    after = runner.said()[before:]
    assert "Traceback" not in after, after
    assert "KeyboardInterrupt" not in after, after
    assert isinstance(_status(f"{runner.catalog}/healthz"), str)  # nothing listens any more
    assert isinstance(_status(f"{runner.recommender}/healthz"), str)
