"""Turns the catalog's event stream (and, once, its export) into the read model."""
