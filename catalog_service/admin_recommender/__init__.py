"""Admin proxies to the recommender's model registry, so that frontends talk only to the catalog."""
