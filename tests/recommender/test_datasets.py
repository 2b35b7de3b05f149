"""File loaders on small slices of each format, and the ItemPop sanity figure on the real files."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest

from recommender_service.offline import evaluate_cli
from recommender_service.offline.datasets import detect_format, load_ml100k, load_ncf

SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"


def write_ncf(folder: Path) -> None:
    """3 users, 6 items; user u's test item is u + 3, negatives are two unrated items."""
    train = ["0\t0\t1\t0", "0\t1\t1\t0", "1\t1\t1\t0", "1\t2\t1\t0", "2\t0\t1\t0", "2\t2\t1\t0"]
    with gzip.open(folder / "ml-1m.train.rating.reconstructed.gz", "wt") as fh:
        fh.write("\n".join(train) + "\n")
    (folder / "ml-1m.test.rating").write_text("0\t3\t5\t9\n1\t4\t4\t9\n2\t5\t3\t9\n")
    (folder / "ml-1m.test.negative").write_text("(0,3)\t4\t5\n(1,4)\t0\t5\n(2,5)\t1\t3\n")


def write_ml100k(folder: Path) -> None:
    rows = [
        (1, 10, 5, 100),
        (1, 20, 3, 200),
        (1, 30, 4, 300),
        (2, 10, 2, 50),
        (2, 40, 1, 60),
        (2, 20, 5, 70),
        (3, 30, 4, 10),
        (3, 40, 4, 20),
        (3, 50, 4, 30),
    ]
    (folder / "u.data").write_text("".join(f"{u}\t{i}\t{r}\t{t}\n" for u, i, r, t in rows))


def write_ml1m_side(folder: Path) -> None:
    """GroupLens metadata for the 3 users and 6 items of `write_ncf` (items 0-5 = movies 10-15)."""
    users = ["1::F::1::10::48067", "2::M::56::16::70072", "3::M::25::15::55117"]
    (folder / "users.dat").write_text("\n".join(users) + "\n", encoding="latin-1")
    movies = [f"{10 + i}::Film {i} (19{80 + i})::Drama|Comédie" for i in range(5)]
    movies.append("15::Sans date::Documentary")
    (folder / "movies.dat").write_text("\n".join(movies) + "\n", encoding="latin-1")
    rows = ["ncf_item_id\tmovielens_movie_id\tambiguous"] + [f"{i}\t{10 + i}\t0" for i in range(6)]
    (folder / "ncf_item_map.tsv").write_text("\n".join(rows) + "\n")


def test_ncf_loader_reads_users_dat_and_movies_dat_in_ncf_ids(tmp_path: Path) -> None:
    write_ncf(tmp_path)
    assert load_ncf(tmp_path).side is None  # without the metadata files
    write_ml1m_side(tmp_path)
    side = load_ncf(tmp_path).side
    assert side is not None
    assert side.users == {
        0: {"gender": "F", "age": "1", "occupation": "10"},
        1: {"gender": "M", "age": "56", "occupation": "16"},
        2: {"gender": "M", "age": "25", "occupation": "15"},
    }
    assert side.items[1] == {"genre": ["Drama", "Comédie"], "decade": "1980s"}
    assert side.items[5] == {"genre": ["Documentary"], "decade": None}


def test_format_is_detected_from_the_files(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    write_ncf(tmp_path / "a")
    write_ml100k(tmp_path / "b")
    assert detect_format(tmp_path / "a") == "ncf"
    assert detect_format(tmp_path / "b") == "ml-100k"
    with pytest.raises(ValueError, match="neither"):
        detect_format(tmp_path)


def test_ncf_loader_keeps_the_test_files_and_holds_out_one_validation_pair(
    tmp_path: Path,
) -> None:
    write_ncf(tmp_path)
    data = load_ncf(tmp_path, seed=0)
    assert (data.n_users, data.n_items) == (3, 6)
    assert data.test.users.tolist() == [0, 1, 2]
    assert data.test.candidates.tolist() == [[3, 4, 5], [4, 0, 5], [5, 1, 3]]
    assert len(data.full_users) == 6 and data.n_train == 3
    val = data.validation
    val_pairs = set(zip(val.users.tolist(), val.candidates[:, 0].tolist(), strict=True))
    train_pairs = set(zip(data.train_users.tolist(), data.train_items.tolist(), strict=True))
    assert len(val_pairs) == 3 and not val_pairs & train_pairs
    assert val_pairs | train_pairs == set(
        zip(data.full_users.tolist(), data.full_items.tolist(), strict=True)
    )


def test_ml100k_loader_tests_each_users_latest_rating_against_unrated_negatives(
    tmp_path: Path,
) -> None:
    write_ml100k(tmp_path)
    data = load_ml100k(tmp_path, seed=1, num_negatives=2)
    # items 10..50 → indices 0..4; users 1..3 → 0..2; latest: u1 → 30, u2 → 20, u3 → 50
    assert data.test.candidates[:, 0].tolist() == [2, 1, 4]
    rated = {0: {0, 1, 2}, 1: {0, 3, 1}, 2: {2, 3, 4}}
    for user, row in zip(data.test.users.tolist(), data.test.candidates[:, 1:], strict=True):
        assert not set(row.tolist()) & rated[user]
        assert len(set(row.tolist())) == 2
    # the validation item is the latest remaining one: u1 → 20, u2 → 40, u3 → 40
    assert data.validation.candidates[:, 0].tolist() == [1, 3, 3]


def test_ml100k_negatives_depend_only_on_the_seed(tmp_path: Path) -> None:
    write_ml100k(tmp_path)
    a, b = load_ml100k(tmp_path, seed=4), load_ml100k(tmp_path, seed=4)
    np.testing.assert_array_equal(a.test.candidates, b.test.candidates)


@pytest.mark.skipif(
    not (SHARED_DATA / "ncf-ml-1m" / "ml-1m.test.negative").exists(),
    reason=f"NCF ML-1M files not found in {SHARED_DATA / 'ncf-ml-1m'}",
)
def test_item_popularity_reproduces_the_published_sanity_figure(tmp_path: Path) -> None:
    out = tmp_path / "pop.json"
    argv = ["--dataset", str(SHARED_DATA / "ncf-ml-1m"), "--model", "pop", "--json", str(out)]
    assert evaluate_cli.main(argv) == 0
    result = json.loads(out.read_text())
    assert (result["n_users"], result["n_items"]) == (6040, 3706)
    assert round(result["hr@10"], 4) == 0.4538
    assert round(result["ndcg@10"], 4) == 0.2545
