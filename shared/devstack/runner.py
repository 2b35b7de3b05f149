"""`make run`: both services on the embedded servers, with the demo set, supervised until Ctrl-C.

In order: migrate both schemas, seed an empty catalog (`DEVSTACK_SEED_SCALE`, 0: no seed and no
first training), serve the catalog, wait until its outbox backlog is on the stream (the
catalog's own `outbox-backlog --wait`: this tooling never reads a service's tables), serve the
recommender (it bootstraps from the catalog's export, then follows the stream), train a first
model when none is active. Each step is a child the runner can stop. From the moment they start,
the services and the embedded servers are supervised: one that dies is started again while the
others keep running (shared.devstack.supervisor). Ctrl-C or SIGTERM stops everything, exit 0.
"""

from __future__ import annotations

import signal

from shared.devstack.embedded import Servers
from shared.devstack.supervisor import ChildProcess, RestartPolicy, Supervisor, log

READY_TIMEOUT_S = 180.0
OUTBOX_WAIT_S = 300


class _Stopped(Exception):
    """Ctrl-C or SIGTERM while the stack was starting."""


class _StartFailed(Exception):
    pass


def run(
    env: dict[str, str], servers: Servers, *, seed_scale: float, policy: RestartPolicy | None = None
) -> int:
    supervisor = Supervisor(policy)
    stop_signals = (signal.SIGINT, signal.SIGTERM)
    handlers = {s: signal.signal(s, supervisor.request_stop) for s in stop_signals}
    for server in servers.embedded:
        supervisor.watch(server)
    try:
        _start(supervisor, env, seed_scale=seed_scale)
        # Until Ctrl-C; or until nothing is left to supervise (every child given up).
        return 1 if supervisor.wait_until(supervisor.all_gave_up) else 0
    except _Stopped:
        return 0
    except _StartFailed as exc:
        log(f"{exc}; stopping")
        return 1
    finally:
        log("stopping")
        supervisor.stop_all()
        for sig, handler in handlers.items():
            signal.signal(sig, handler)


def _start(supervisor: Supervisor, env: dict[str, str], *, seed_scale: float) -> None:
    catalog_port = env.setdefault("CATALOG_PORT", "8000")
    recommender_port = env.setdefault("RECOMMENDER_PORT", "8001")
    env.setdefault("RECOMMENDER_URL", f"http://127.0.0.1:{recommender_port}")
    env.setdefault("CATALOG_URL", f"http://127.0.0.1:{catalog_port}")
    for service in ("catalog_service", "recommender_service"):
        _step(supervisor, env, service, "migrate", required=True)
    if seed_scale > 0:
        seed = ("seed", "--if-empty", "--scale", f"{seed_scale:g}")
        _step(supervisor, env, "catalog_service", *seed, required=True)
    # Catalog first: the recommender bootstraps from its export and follows its stream.
    _serve(supervisor, env, "catalog_service", catalog_port)
    _step(supervisor, env, "catalog_service", "outbox-backlog", "--wait", str(OUTBOX_WAIT_S))
    _serve(supervisor, env, "recommender_service", recommender_port)
    if seed_scale > 0:
        _step(supervisor, env, "recommender_service", "train", "--if-missing")
    print(
        "\n  épreuves-reco is up:\n"
        f"    catalog      http://127.0.0.1:{catalog_port}/docs\n"
        f"    console      http://127.0.0.1:{catalog_port}/admin\n"
        f"    recommender  http://127.0.0.1:{recommender_port}/docs\n"
        "  Demo accounts are listed in README.md. Ctrl-C stops everything.\n",
        flush=True,
    )


def _step(
    supervisor: Supervisor, env: dict[str, str], module: str, *args: str, required: bool = False
) -> None:
    """A one-shot command, run to its end while the others stay supervised."""
    child = ChildProcess.python(module, *args, env=env).start()
    supervisor.wait_until(lambda: child.exit_status() is not None)
    if supervisor.stopping:
        child.stop()
        raise _Stopped
    status = child.exit_status()
    if status != "exit code 0":
        if required:
            raise _StartFailed(f"{module} {args[0]} failed ({status})")
        log(f"{module} {args[0]} failed ({status}); going on")


def _serve(supervisor: Supervisor, env: dict[str, str], module: str, port: str) -> None:
    child = ChildProcess.python(
        module, "serve", env=env, ready_url=f"http://127.0.0.1:{port}/readyz"
    )
    supervisor.start(child)
    ready = supervisor.wait_until(
        lambda: child.ready() or supervisor.gave_up(child), timeout_s=READY_TIMEOUT_S
    )
    if supervisor.stopping:
        raise _Stopped
    if not ready or supervisor.gave_up(child):
        raise _StartFailed(f"{module} did not become ready on port {port}")
