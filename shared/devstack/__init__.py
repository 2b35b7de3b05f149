"""Developer tooling behind `make run` and `make test`, not part of the services' contract.

- `embedded`: a real PostgreSQL and a real Redis shipped as wheels, restartable in place;
- `supervisor`: restarts a child that died, with a back-off, until it crashes too often;
- `runner`: `make run`, both services and the demo set on those servers, supervised;
- `cli`: `python -m shared.devstack run | test [-- pytest args] | migrate | seed | train`.

It drives the services only through their own commands and HTTP endpoints, never their tables.
"""

from shared.devstack.embedded import (
    EmbeddedPostgres,
    EmbeddedRedis,
    PostgresControl,
    Servers,
    servers,
)

__all__ = ["EmbeddedPostgres", "EmbeddedRedis", "PostgresControl", "Servers", "servers"]
