"""`neumf_features`: side features rank papers and students the model never saw (cold start),
and the whole model, feature space and calibration included, survives the artefact bytes."""

from __future__ import annotations

import numpy as np
import pytest

from recommender_service.ml.artifact import TrainedModel
from recommender_service.ml.config import TrainConfig
from recommender_service.ml.features import FeatureSpace, Side
from recommender_service.ml.pipeline import fit
from recommender_service.offline import cold_start
from tests.recommender.synthetic import FILIERES, SyntheticData, generate

SMALL = {"embedding_dim": 16, "mlp_layers": (32, 16, 8), "batch_size": 512, "patience": 4}
SMALL |= {"holdout_metrics": False, "seed": 1}


@pytest.fixture(scope="module")
def synthetic() -> SyntheticData:
    return generate(n_users=300, n_items=200, n_interactions=12_000, seed=1)


@pytest.fixture(scope="module")
def served(synthetic: SyntheticData) -> TrainedModel:
    """Trained as the service trains: `fit` with the read model's metadata."""
    config = TrainConfig(model="neumf_features", epochs=15, **SMALL)
    return fit(synthetic.interactions(), config, side=synthetic.side())


def test_tokens_are_numbered_from_the_training_entities_and_unknown_ones_are_dropped() -> None:
    side = Side.build([{"filiere": "MATH", "genre": ["A", "B"]}, {"filiere": "INFO"}, None])
    assert side.vocab == ("filiere=INFO", "filiere=MATH", "genre=A", "genre=B")
    np.testing.assert_array_equal(side.codes, [[2, 3, 4], [1, 0, 0], [0, 0, 0]])
    new = side.encode([{"filiere": "CHIMIE", "genre": ["B"]}, {"niveau": "L2"}])
    np.testing.assert_array_equal(new, [[4, 0, 0], [0, 0, 0]])


def test_feature_model_beats_its_ablation_and_popularity_in_filiere_on_new_papers(
    synthetic: SyntheticData,
) -> None:
    side = synthetic.side()
    config = TrainConfig(model="neumf_features", epochs=20, **SMALL)
    result = cold_start.run(
        synthetic.interactions(), side, config,
        {"pop_in_filiere": lambda w: cold_start.popularity_scorer(
            w, side, own_fields=("niveau", "filiere"))},
        share=0.2,
    )  # fmt: skip
    new_items = result["table"]["new items"]
    for metric in ("hr@10", "ndcg@10"):
        assert new_items["features"][metric] > new_items["no features"][metric] + 0.2
        assert new_items["features"][metric] > new_items["pop_in_filiere"][metric] + 0.05
    assert result["held_out"] == {"items": 40, "users": 60}
    # The held-out papers and students were never in the trained model's id space.
    assert result["rows"]["new items"] > 100


@pytest.mark.parametrize("filiere", FILIERES)
def test_a_new_student_known_by_niveau_and_filiere_gets_papers_of_their_filiere(
    served: TrainedModel, synthetic: SyntheticData, filiere: str
) -> None:
    # Planted: 8x the affinity for one's own filière, times a long-tailed popularity, so the
    # very top papers of other filières are likely too; without metadata the list is the
    # same for everyone, about a quarter of it in any one filière.
    items = synthetic.all_item_ids

    def top_filieres(meta: dict[str, str] | None) -> list[str]:
        scores = served.scores_for(None, items, user_meta=meta)
        assert scores is not None and np.isfinite(scores).all()
        return [synthetic.item_filiere[int(i)] for i in items[np.argsort(-scores)[:10]]]

    assert top_filieres({"niveau": "L1", "filiere": filiere}).count(filiere) >= 8
    assert top_filieres(None).count(filiere) <= 4


def test_a_paper_unseen_in_training_is_scored_from_its_metadata(
    served: TrainedModel, synthetic: SyntheticData
) -> None:
    user = int(served.user_ids[0])
    own = synthetic.user_filiere[user]
    other = next(f for f in FILIERES if f != own)
    metas = {
        1: {"filiere": own, "niveau": synthetic.user_niveau[user], "matiere": "x", "type": "TD"},
        2: {"filiere": other, "niveau": "M2", "matiere": "x", "type": "TD"},
    }
    scores = served.scores_for(user, np.array([1, 2]), item_meta=metas)
    assert scores is not None and scores[0] > scores[1]
    calibrated = served.calibrated(scores)
    assert 0.0 <= calibrated[1] < calibrated[0] <= 1.0


def test_feature_model_round_trips_with_its_feature_space_and_calibration(
    served: TrainedModel, synthetic: SyntheticData
) -> None:
    loaded = TrainedModel.from_bytes(served.to_bytes())
    assert loaded.uses_features and loaded.algorithm == "neumf_features"
    assert loaded.features is not None and served.features is not None
    assert loaded.features.users.vocab == served.features.users.vocab
    np.testing.assert_array_equal(loaded.features.items.codes, served.features.items.codes)
    assert loaded.calibration == served.calibration
    assert loaded.metrics["calibration"] == served.calibration.to_dict()  # type: ignore[union-attr]
    items = synthetic.all_item_ids
    meta = {"niveau": "M1", "filiere": "INFO"}
    for user in (int(served.user_ids[3]), None, 123_456):
        np.testing.assert_array_equal(
            loaded.scores_for(user, items, user_meta=meta),
            served.scores_for(user, items, user_meta=meta),
        )
    user = int(served.user_ids[3])
    np.testing.assert_array_equal(loaded.scores_for_user(user), served.scores_for_user(user))
    item = int(items[0])
    assert loaded.similar_items(item, 5) == served.similar_items(item, 5)


def test_a_known_user_scores_the_same_through_either_call(served: TrainedModel) -> None:
    user = int(served.user_ids[7])
    np.testing.assert_allclose(
        served.scores_for(user, served.item_ids), served.scores_for_user(user), rtol=1e-5
    )


def test_a_model_without_features_cannot_score_the_unseen(synthetic: SyntheticData) -> None:
    config = TrainConfig(model="mf", epochs=2, **SMALL)
    model = fit(synthetic.interactions(), config, side=synthetic.side())
    assert not model.uses_features
    assert model.scores_for(None, model.item_ids, user_meta={"filiere": "MATH"}) is None
    user = int(model.user_ids[0])
    scores = model.scores_for(user, np.array([int(model.item_ids[0]), 99]))
    assert scores is not None and np.isfinite(scores[0]) and np.isnan(scores[1])


def test_an_empty_feature_space_has_one_padding_column_per_entity() -> None:
    space = FeatureSpace.empty(3, 4)
    assert space.users.codes.shape == (3, 1) and space.items.codes.shape == (4, 1)
    assert space.users.size == 1
    np.testing.assert_array_equal(space.encode_users([{"filiere": "MATH"}]), [[0]])
