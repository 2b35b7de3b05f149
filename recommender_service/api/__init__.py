"""The HTTP API under /v1 (DESIGN §7): serving, model registry, stats. Never trains itself:
`POST /v1/models/train` hands the run to `training`."""
