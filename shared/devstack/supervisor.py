"""Restarts what the dev stack started when it dies, with a back-off, until it crashes too often.

A child is anything with `name`, `start()`, `exit_status()` (None while it runs, else how it
ended) and `stop()`: a service process, the embedded Redis, the embedded PostgreSQL. The
supervisor runs in the caller's thread: every wait of the runner goes through `wait_until`, which
checks the children between polls, so there is no thread and no lock.
"""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Protocol


def log(message: str) -> None:
    print(f"[devstack] {message}", flush=True)


def describe_exit(returncode: int) -> str:
    if returncode < 0:
        with contextlib.suppress(ValueError):
            return f"killed by {signal.Signals(-returncode).name}"
    return f"exit code {returncode}"


class Child(Protocol):
    name: str

    def start(self) -> object: ...

    def exit_status(self) -> str | None: ...

    def stop(self) -> None: ...


@dataclass(frozen=True)
class RestartPolicy:
    """Restart after 0.5 s, 1 s, 2 s, 4 s…; give up at the `max_crashes`-th crash in `window_s`
    (a service that cannot start, not one that crashed once after running for hours)."""

    max_crashes: int = 5
    window_s: float = 60.0
    first_delay_s: float = 0.5
    max_delay_s: float = 10.0

    def delay_s(self, crashes: int) -> float:
        """The pause before the restart that follows the `crashes`-th crash in the window."""
        return min(self.max_delay_s, self.first_delay_s * 2 ** max(0, crashes - 1))


class ChildProcess:
    """`argv` as a child process in its own session (a Ctrl-C in the terminal reaches only the
    runner, which stops its children itself), ready when `ready_url` answers 200."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        env: dict[str, str],
        ready_url: str | None = None,
        log_file: Path | None = None,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.env = env
        self.ready_url = ready_url
        self.log_file = log_file
        self.process: subprocess.Popen[bytes] | None = None

    @classmethod
    def python(
        cls,
        module: str,
        *args: str,
        env: dict[str, str],
        ready_url: str | None = None,
        log_file: Path | None = None,
    ) -> ChildProcess:
        """`python -m module args…` with this interpreter."""
        argv = [sys.executable, "-m", module, *args]
        return cls(module, argv, env=env, ready_url=ready_url, log_file=log_file)

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def start(self) -> ChildProcess:
        out: IO[bytes] | None = self.log_file.open("ab") if self.log_file else None
        try:
            self.process = subprocess.Popen(  # noqa: S603
                self.argv, env=self.env, stdout=out, stderr=out, start_new_session=True
            )
        finally:
            if out:
                out.close()
        return self

    def exit_status(self) -> str | None:
        code = self.process.poll() if self.process else None
        return None if code is None else describe_exit(code)

    def ready(self) -> bool:
        import httpx

        if self.exit_status() is not None:
            return False
        if self.ready_url is None:
            return True
        try:
            return httpx.get(self.ready_url, timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def kill(self) -> None:
        """kill -9, as a crash would (fault tests)."""
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def terminate(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()

    def stop(self, timeout_s: float = 15) -> None:
        """SIGTERM (uvicorn shuts down gracefully on it), SIGKILL past `timeout_s`."""
        if self.process is None:
            return
        self.terminate()
        try:
            self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@dataclass
class _Watch:
    child: Child
    crashes: deque[float] = field(default_factory=deque)
    restart_at: float | None = None
    died_at: float | None = None  # until it is ready again (logged once, with the delay)
    given_up: bool = False


class Supervisor:
    def __init__(self, policy: RestartPolicy | None = None, *, poll_s: float = 0.25) -> None:
        self.policy = policy or RestartPolicy()
        self._poll_s = poll_s
        self._watches: list[_Watch] = []
        self.stopping = False

    def watch(self, child: Child) -> None:
        """Supervises a started child from now on."""
        self._watches.append(_Watch(child))

    def start(self, child: Child) -> None:
        child.start()
        self.watch(child)

    def gave_up(self, child: Child) -> bool:
        return any(w.given_up for w in self._watches if w.child is child)

    def all_gave_up(self) -> bool:
        return bool(self._watches) and all(w.given_up for w in self._watches)

    def request_stop(self, *_signal: object) -> None:
        """Signal handler: stop supervising; the runner then stops everything."""
        self.stopping = True

    def check(self) -> None:
        """One round: notice deaths, restart those whose pause is over, log recoveries."""
        for watch in self._watches:
            if not self.stopping and not watch.given_up:
                self._check(watch)

    def _check(self, watch: _Watch) -> None:
        now = time.monotonic()
        child = watch.child
        if watch.restart_at is not None:
            if now >= watch.restart_at:
                watch.restart_at = None
                try:
                    child.start()
                    log(f"{child.name} started again{_pid(child)}")
                except Exception as exc:  # a failed start counts as one more crash
                    self._crashed(watch, f"start failed: {exc}", now)
            return
        status = child.exit_status()
        if status is not None:
            self._crashed(watch, status, now)
        elif watch.died_at is not None and _ready(child):
            log(f"{child.name} is ready again, {now - watch.died_at:.1f} s after it was found dead")
            watch.died_at = None

    def _crashed(self, watch: _Watch, status: str, now: float) -> None:
        policy = self.policy
        watch.crashes.append(now)
        while watch.crashes and now - watch.crashes[0] > policy.window_s:
            watch.crashes.popleft()
        crashes = len(watch.crashes)
        if watch.died_at is None:
            watch.died_at = now
        name = watch.child.name
        if crashes >= policy.max_crashes:
            watch.given_up = True
            log(
                f"{name} died ({status}), {crashes} times within {policy.window_s:g} s: "
                "not restarting it again; the others keep running (Ctrl-C stops them)"
            )
            return
        delay = policy.delay_s(crashes)
        watch.restart_at = now + delay
        log(f"{name} died ({status}); restarting it in {delay:g} s")

    def wait_until(self, done: Callable[[], bool], *, timeout_s: float | None = None) -> bool:
        """Supervises until `done()` (True), a stop request or the timeout (False)."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while not self.stopping:
            self.check()
            if done():
                return True
            if deadline is not None and time.monotonic() > deadline:
                return False
            time.sleep(self._poll_s)
        return False

    def stop_all(self) -> None:
        """Stops every child, the last started first (the services before their servers)."""
        self.stopping = True
        children = [watch.child for watch in reversed(self._watches)]
        for child in children:  # every service shuts down at once…
            if isinstance(child, ChildProcess):
                child.terminate()
        for child in children:  # …then each is waited for, the servers last
            with contextlib.suppress(Exception):
                child.stop()


def _pid(child: Child) -> str:
    pid = getattr(child, "pid", None)
    return f" (pid {pid})" if pid else ""


def _ready(child: Child) -> bool:
    ready = getattr(child, "ready", None)
    return bool(ready()) if callable(ready) else child.exit_status() is None
