"""Impressions: every recommendation list the catalog shows, and the interactions it earned."""
