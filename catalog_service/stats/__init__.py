"""GET /v1/stats: the admin's dashboard of catalog counts and the recommender's status."""
