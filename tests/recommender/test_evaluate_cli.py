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


@pytest.mark.parametrize("model", ["ease", "ials"])
def test_a_non_neural_model_reports_its_search_as_history(
    dataset: Path, tmp_path: Path, model: str
) -> None:
    out = tmp_path / "r.json"
    argv = ["--dataset", str(dataset), "--model", model, "--ials-factors", "8", "--quiet"]
    assert evaluate_cli.main([*argv, "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result.keys() >= REQUIRED
    assert result["chosen"] == model and list(result["candidates"]) == [model]
    assert (result["hr@10"], result["ndcg@10"]) == tuple(
        result["candidates"][model][k] for k in ("hr@10", "ndcg@10")
    )
    tuned = result["candidates"][model]["tuned"]
    assert tuned.keys() == (
        {"ease_l2"} if model == "ease" else {"ials_regularization", "ials_alpha"}
    )
    assert all(result["hyperparameters"][k] == v for k, v in tuned.items())
    assert result["epochs"] == len(result["history"]) >= 1


def test_auto_reports_every_candidate_and_chooses_on_validation(
    dataset: Path, tmp_path: Path
) -> None:
    out, png = tmp_path / "r.json", tmp_path / "candidates.png"
    argv = ["--dataset", str(dataset), "--model", "auto", "--candidates", "mf,ease,ials"]
    argv += ["--epochs", "2", "--ials-factors", "8", "--quiet", "--plot-candidates", str(png)]
    assert evaluate_cli.main([*argv, "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    candidates = result["candidates"]
    assert list(candidates)[:3] == ["ease", "ials", "mf"]  # cheapest first
    best = max(candidates, key=lambda n: candidates[n]["val_ndcg@10"])
    assert result["chosen"] == best and candidates[best]["chosen"]
    assert result["hyperparameters"]["model"] == best
    for row in candidates.values():
        assert 0.0 <= row["ndcg@10"] <= row["hr@10"] <= 1.0 and row["seconds"] >= 0
    assert result["train_seconds"] == pytest.approx(
        result["select_seconds"] + result["refit_seconds"], abs=0.02
    )
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
