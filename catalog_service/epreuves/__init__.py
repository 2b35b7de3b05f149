"""Épreuves: exam papers, their PDF files, counters and averages."""
