"""What the two services share.

The contract between catalog_service and recommender_service (event envelope and payloads,
stream names, enumerations, the service credential header), plus the plumbing both use the same
way (`database`: engine and schema metadata). `devstack/` is developer tooling kept apart from
the contract (the embedded servers, the supervised `make run`, `make test`): it drives the
services through their commands and HTTP only. Nothing here knows about either service's tables.
"""
