"""What the two services share.

The contract between catalog_service and recommender_service (event envelope and payloads,
stream names, enumerations, the service credential header), plus the plumbing both use the same
way (`database`: engine and schema metadata; `devstack`: the embedded servers that `make run`
and `make test` start). Nothing here knows about either service's tables or code.
"""
