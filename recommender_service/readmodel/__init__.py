"""The read model: users, items, interactions and evaluations, as the catalog's events tell them."""
