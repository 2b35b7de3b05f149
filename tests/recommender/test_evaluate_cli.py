"""`python -m recommender_service evaluate` (its `main`) on a small file in the ml-100k format."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from recommender_service.offline import evaluate_cli
from tests.recommender.synthetic import generate

REQUIRED = {
    "model",
    "dataset",
    "hr@10",
    "ndcg@10",
    "train_seconds",
    "seconds_per_epoch",
    "epochs",
    "peak_rss_mb",
    "hyperparameters",
}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("ml100k")
    s = generate(n_users=80, n_items=60, n_interactions=2500, seed=2)
    rows = zip(s.user_ids, s.item_ids, s.timestamps, strict=True)
    (folder / "u.data").write_text("".join(f"{u}\t{i}\t1\t{t}\n" for u, i, t in rows))
    return folder


def test_neural_model_writes_json_with_every_required_key_and_a_png(
    dataset: Path, tmp_path: Path
) -> None:
    out, png = tmp_path / "r.json", tmp_path / "curve.png"
    argv = ["--dataset", str(dataset), "--model", "mf", "--epochs", "3", "--threads", "1"]
    code = evaluate_cli.main([*argv, "--quiet", "--json", str(out), "--plot", str(png)])
    assert code == 0
    result = json.loads(out.read_text())
    assert result.keys() >= REQUIRED
    assert result["model"] == "mf" and result["dataset"] == "ml-100k"
    assert result["epochs"] == 3 and len(result["history"]) == 3
    assert result["hyperparameters"]["epochs"] == 3
    assert result["hyperparameters"]["l2"] == evaluate_cli.L2  # the command's own default
    assert 0.0 <= result["ndcg@10"] <= result["hr@10"] <= 1.0
    assert result["peak_rss_mb"] > 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("model", ["pop", "itemknn"])
def test_baselines_report_without_epochs(dataset: Path, tmp_path: Path, model: str) -> None:
    out = tmp_path / "r.json"
    assert evaluate_cli.main(["--dataset", str(dataset), "--model", model, "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result.keys() >= REQUIRED
    assert result["epochs"] == 0 and result["seconds_per_epoch"] is None


def test_unknown_model_is_a_usage_error(dataset: Path) -> None:
    with pytest.raises(SystemExit) as exc:
        evaluate_cli.main(["--dataset", str(dataset), "--model", "svd"])
    assert exc.value.code == 2


def test_folder_without_known_files_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="neither"):
        evaluate_cli.main(["--dataset", str(tmp_path), "--model", "pop"])
