"""The web console at /admin: sqladmin pages on the catalog's models, every change made through
the same service functions as the API, plus a dashboard and the recommender's registry."""
