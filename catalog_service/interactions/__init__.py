"""Interactions: what a user did with an épreuve (VIEW, DOWNLOAD, CLICK, RATE)."""
