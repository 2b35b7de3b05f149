"""A small generated data set with planted structure, for the recommender's tests and benchmarks.

Users and épreuves have a filière and a niveau; a user picks épreuves with a probability
proportional to a long-tailed popularity times a strong affinity for their own filière and a
milder one for their own niveau. A model that learns the structure ranks same-filière papers
first; popularity alone cannot.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from recommender_service.ml.data import InteractionData
from recommender_service.ml.features import SideInfo
from recommender_service.ml.feedback import implicit_feedback
from shared.enums import EpreuveType, Filiere, InteractionKind, Niveau

FILIERES = [f.value for f in Filiere]
NIVEAUX = [n.value for n in Niveau]
TYPES = [t.value for t in EpreuveType]
MATIERES = {
    "MATH": ["Analyse", "Algèbre", "Probabilités"],
    "INFO": ["Algorithmique", "Bases de données", "Réseaux"],
    "PHYSIQUE": ["Mécanique", "Électromagnétisme", "Optique"],
    "CHIMIE": ["Chimie organique", "Thermochimie", "Spectroscopie"],
}
KINDS = [
    InteractionKind.VIEW.value,
    InteractionKind.CLICK.value,
    InteractionKind.DOWNLOAD.value,
    InteractionKind.RATE.value,
]
KIND_PROBS = [0.5, 0.25, 0.2, 0.05]
USER_ID_BASE = 1000  # raw ids differ from indices, so an id-mapping bug shows
ITEM_ID_BASE = 5000
T0 = 1_700_000_000


@dataclass(frozen=True)
class SyntheticData:
    # raw interaction rows
    user_ids: np.ndarray
    item_ids: np.ndarray
    kinds: list[str]
    relevances: np.ndarray  # NaN except for RATE rows
    timestamps: np.ndarray
    # attributes: user/item raw id -> value
    user_filiere: dict[int, str]
    user_niveau: dict[int, str]
    item_filiere: dict[int, str]
    item_niveau: dict[int, str]
    item_matiere: dict[int, str]
    item_type: dict[int, str]
    item_annee: dict[int, int]

    def interactions(self) -> InteractionData:
        return implicit_feedback(
            self.user_ids, self.item_ids, self.kinds, self.relevances, self.timestamps
        )

    def side(self) -> SideInfo:
        """The users' and papers' metadata, with the read model's field names."""
        users = {
            u: {"niveau": self.user_niveau[u], "filiere": f} for u, f in self.user_filiere.items()
        }
        items = {
            i: {
                "filiere": f, "niveau": self.item_niveau[i], "matiere": self.item_matiere[i],
                "type": self.item_type[i], "annee": self.item_annee[i],
            }
            for i, f in self.item_filiere.items()
        }  # fmt: skip
        return SideInfo(users, items)

    @property
    def all_user_ids(self) -> np.ndarray:
        return np.array(sorted(self.user_filiere), dtype=np.int64)

    @property
    def all_item_ids(self) -> np.ndarray:
        return np.array(sorted(self.item_filiere), dtype=np.int64)


def generate(
    n_users: int = 200,
    n_items: int = 150,
    n_interactions: int = 15_000,
    *,
    seed: int = 0,
    filiere_affinity: float = 8.0,
    niveau_affinity: float = 3.0,
) -> SyntheticData:
    rng = np.random.default_rng(seed)
    u_fil = rng.integers(0, len(FILIERES), n_users)
    u_niv = rng.integers(0, len(NIVEAUX), n_users)
    i_fil = np.arange(n_items) % len(FILIERES)  # balanced, so every filière has papers
    i_niv = rng.integers(0, len(NIVEAUX), n_items)
    popularity = 1.0 / (1.0 + rng.permutation(n_items)) ** 0.8  # long tail (Zipf-like)
    affinity = (
        np.where(u_fil[:, None] == i_fil[None, :], filiere_affinity, 1.0)
        * np.where(u_niv[:, None] == i_niv[None, :], niveau_affinity, 1.0)
        * popularity[None, :]
    )
    probs = affinity / affinity.sum(axis=1, keepdims=True)
    activity = rng.pareto(2.0, n_users) + 1.0  # a few heavy users
    per_user = np.maximum(5, np.round(activity / activity.sum() * n_interactions)).astype(int)
    users = np.repeat(np.arange(n_users), per_user)
    cum = np.cumsum(probs, axis=1)
    items = (cum[users] < rng.random(len(users))[:, None]).sum(axis=1).clip(0, n_items - 1)
    kinds = rng.choice(len(KINDS), size=len(users), p=KIND_PROBS)
    relevances = np.where(
        kinds == KINDS.index(InteractionKind.RATE.value),
        rng.integers(1, 6, len(users)).astype(float),
        np.nan,
    )
    timestamps = T0 + rng.integers(0, 90 * 86_400, len(users))
    user_raw = USER_ID_BASE + np.arange(n_users)
    item_raw = ITEM_ID_BASE + np.arange(n_items)
    matieres = [MATIERES[FILIERES[f]][rng.integers(0, 3)] for f in i_fil]
    return SyntheticData(
        user_ids=user_raw[users],
        item_ids=item_raw[items],
        kinds=[KINDS[k] for k in kinds],
        relevances=relevances,
        timestamps=timestamps.astype(np.int64),
        user_filiere={int(u): FILIERES[f] for u, f in zip(user_raw, u_fil, strict=True)},
        user_niveau={int(u): NIVEAUX[n] for u, n in zip(user_raw, u_niv, strict=True)},
        item_filiere={int(i): FILIERES[f] for i, f in zip(item_raw, i_fil, strict=True)},
        item_niveau={int(i): NIVEAUX[n] for i, n in zip(item_raw, i_niv, strict=True)},
        item_matiere={int(i): m for i, m in zip(item_raw, matieres, strict=True)},
        item_type={int(i): TYPES[int(rng.integers(0, len(TYPES)))] for i in item_raw},
        item_annee={int(i): int(2015 + rng.integers(0, 10)) for i in item_raw},
    )
