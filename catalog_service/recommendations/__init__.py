"""Recommendations for frontends: the recommender's answers on catalog records, with a fallback."""
