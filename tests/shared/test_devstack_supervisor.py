"""The supervisor of `make run` on real child processes: restarts with a back-off, gives up on a
child that keeps crashing, leaves the others alone, and stops everything it started."""

from __future__ import annotations

import sys

import pytest

from shared.devstack.supervisor import ChildProcess, RestartPolicy, Supervisor, describe_exit

FAST = RestartPolicy(max_crashes=3, window_s=60, first_delay_s=0.05, max_delay_s=0.2)


class CountedChild(ChildProcess):
    def __init__(self, name: str, code: str) -> None:
        super().__init__(name, [sys.executable, "-c", code], env={})
        self.starts = 0

    def start(self) -> CountedChild:
        self.starts += 1
        super().start()
        return self


def test_restart_delays_double_up_to_the_cap() -> None:
    policy = RestartPolicy(first_delay_s=0.5, max_delay_s=3.0)
    assert [policy.delay_s(n) for n in range(1, 6)] == [0.5, 1.0, 2.0, 3.0, 3.0]


def test_exits_are_described_by_code_or_signal() -> None:
    assert [describe_exit(3), describe_exit(0), describe_exit(-9)] == [
        "exit code 3",
        "exit code 0",
        "killed by SIGKILL",
    ]


def test_a_child_that_keeps_crashing_is_given_up_while_the_others_run_on(
    capsys: pytest.CaptureFixture[str],
) -> None:
    supervisor = Supervisor(FAST, poll_s=0.05)
    steady = CountedChild("steady", "import time; time.sleep(120)")
    crasher = CountedChild("crasher", "raise SystemExit(3)")
    supervisor.start(steady)
    supervisor.start(crasher)
    steady_pid = steady.pid
    try:
        assert supervisor.wait_until(lambda: supervisor.gave_up(crasher), timeout_s=60)
        assert crasher.starts == FAST.max_crashes
        assert (steady.starts, steady.pid, steady.exit_status()) == (1, steady_pid, None)
        assert not supervisor.gave_up(steady)
    finally:
        supervisor.stop_all()
    assert steady.exit_status() == "killed by SIGTERM"
    said = capsys.readouterr().out
    assert said.count("crasher died (exit code 3); restarting it in") == FAST.max_crashes - 1
    assert "crasher died (exit code 3), 3 times within 60 s: not restarting it again" in said


def test_a_killed_child_is_started_again_and_reported_ready(
    capsys: pytest.CaptureFixture[str],
) -> None:
    supervisor = Supervisor(FAST, poll_s=0.05)
    child = CountedChild("worker", "import time; time.sleep(120)")
    supervisor.start(child)
    first = child.pid
    try:
        child.kill()
        assert supervisor.wait_until(lambda: child.starts == 2 and child.ready(), timeout_s=60)
        supervisor.check()  # the round that notices it is ready again
        assert child.pid != first
        assert child.exit_status() is None
    finally:
        supervisor.stop_all()
    said = capsys.readouterr().out
    assert "worker died (killed by SIGKILL); restarting it in 0.05 s" in said
    assert "worker is ready again" in said


def test_nothing_is_restarted_once_a_stop_is_requested() -> None:
    supervisor = Supervisor(FAST, poll_s=0.05)
    child = CountedChild("worker", "import time; time.sleep(120)")
    supervisor.start(child)
    try:
        supervisor.request_stop()
        child.kill()
        assert not supervisor.wait_until(lambda: False, timeout_s=1)
        supervisor.check()
        assert (child.starts, child.exit_status()) == (1, "killed by SIGKILL")
    finally:
        supervisor.stop_all()
