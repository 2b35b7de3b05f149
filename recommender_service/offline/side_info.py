"""The metadata of a public data set's users and items, as side features (`neumf_features`).

ML-1M (GroupLens `users.dat`, `movies.dat`, `::`-separated, latin-1) in the NCF files' ids: NCF
user u is MovieLens user u + 1 (ratings.dat is sorted by user), NCF item i is the movie
`ncf_item_map.tsv` names. Users: gender, age group, occupation; items: genres (several) and
the decade of release, read from the title's "(1995)".
"""

from __future__ import annotations

import re
from pathlib import Path

from recommender_service.ml.features import Meta, SideInfo

ML1M_USERS, ML1M_MOVIES, NCF_ITEM_MAP = "users.dat", "movies.dat", "ncf_item_map.tsv"
YEAR = re.compile(r"\((\d{4})\)\s*$")


def has_ml1m_side(path: Path) -> bool:
    return all((Path(path) / name).exists() for name in (ML1M_USERS, ML1M_MOVIES, NCF_ITEM_MAP))


def _rows(file: Path) -> list[list[str]]:
    return [line.split("::") for line in file.read_text(encoding="latin-1").splitlines() if line]


def ml1m_side(path: Path) -> SideInfo:
    """Keyed by NCF ids; a movie the map does not name has no metadata."""
    path = Path(path)
    users: dict[int, Meta] = {
        int(uid) - 1: {"gender": gender, "age": age, "occupation": occupation}
        for uid, gender, age, occupation, _zip in _rows(path / ML1M_USERS)
    }
    movies: dict[int, Meta] = {}
    for movie_id, title, genres in _rows(path / ML1M_MOVIES):
        year = YEAR.search(title)
        decade = f"{int(year.group(1)) // 10 * 10}s" if year else None
        movies[int(movie_id)] = {"genre": genres.split("|"), "decade": decade}
    lines = (path / NCF_ITEM_MAP).read_text().splitlines()[1:]
    ncf = {int(a): int(b) for a, b, *_ in (line.split("\t") for line in lines if line)}
    items = {i: movies[m] for i, m in ncf.items() if m in movies}
    return SideInfo(users, items)
