"""How a model version's metrics carry the popularity baseline (what the recommender stores
and reports, and what the catalog's console shows): its scores on the same split, under
`pop_`-prefixed keys beside the model's."""

from typing import Any

POPULARITY_PREFIX = "pop_"


def split_metrics(metrics: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The model's metrics, and the popularity baseline's on the same split (`pop_*` keys)."""
    model = {k: v for k, v in metrics.items() if not k.startswith(POPULARITY_PREFIX)}
    baseline = {
        k.removeprefix(POPULARITY_PREFIX): v
        for k, v in metrics.items()
        if k.startswith(POPULARITY_PREFIX)
    }
    return model, baseline
