"""``mtmc reid``: train -> resume -> eval (single, ensemble, re-ranked, JSON) -> export on a tiny fake
dataset, the model summary, and one-line errors (exit 2)."""

import json
from pathlib import Path

import pytest
import yaml
from test_reid_engine import write_folders_dataset

import mtmc.reid.modeling.meta_arch  # noqa: F401  (registers every model)
from mtmc.cli import main
from mtmc.commands.reid import model_summaries
from mtmc.reid.engine import load_checkpoint
from mtmc.reid.modeling import MODELS, build_model
from mtmc.reid.onnx_info import onnx_model_info

pytestmark = pytest.mark.usefixtures("torch_one_thread")


@pytest.fixture
def experiment(tmp_path) -> Path:
    """A YAML next to its data, paths relative to it, as configs/reid/*.yaml."""
    write_folders_dataset(tmp_path / "data")
    config = {
        "model": {"name": "glamor", "options": {"depth": 18, "input_size": [32, 32]}},
        "data": {
            "dataset": "folders",
            "root": "data",
            "identities_per_batch": 2,
            "images_per_identity": 2,
            "num_workers": 0,
            "eval_batch_size": 8,
        },
        "optimiser": {"name": "adam", "lr": 1.0e-3},
        "epochs": 3,
        "eval_every": 1,
        "output_dir": "runs/tiny",
    }
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_train_resume_eval_and_export(experiment, tmp_path, capsys):
    assert main(["reid", "train", str(experiment), "--epochs", "1", "--device", "cpu", "-q"]) == 0
    out = tmp_path / "runs" / "tiny"
    assert "checkpoints in" in capsys.readouterr().err
    assert load_checkpoint(out / "last.pt")["epoch"] == 1
    assert main(["reid", "train", str(experiment), "--resume", "--epochs", "2", "-q"]) == 0
    history = json.loads((out / "history.json").read_text())
    assert [row["epoch"] for row in history] == [1, 2]
    assert "resumed" in (out / "train.log").read_text()
    capsys.readouterr()

    scores = tmp_path / "scores.json"
    assert main(["reid", "eval", str(experiment), "--json", str(scores)]) == 0
    table = capsys.readouterr().out
    assert "best.pt" in table and "mAP" in table and "rank1" in table
    single = json.loads(scores.read_text())
    best = load_checkpoint(out / "best.pt")
    assert single["mAP"] == pytest.approx(best["best_map"]) and not single["rerank"]

    # an ensemble of a model with itself averages equal distances: the same scores
    ensemble = tmp_path / "ensemble.json"
    best_pt = str(out / "best.pt")
    assert (
        main(["reid", "eval", "--checkpoint", best_pt, "--ensemble", best_pt, "--json", str(ensemble)]) == 0
    )
    assert json.loads(ensemble.read_text())["mAP"] == pytest.approx(single["mAP"])
    reranked = tmp_path / "reranked.json"
    args = [
        "reid",
        "eval",
        "--checkpoint",
        best_pt,
        "--rerank",
        "--k1",
        "4",
        "--k2",
        "2",
        "--json",
        str(reranked),
    ]
    assert main(args) == 0
    assert json.loads(reranked.read_text())["rerank"] and "re-ranked (k1=4, k2=2" in capsys.readouterr().out

    onnx = tmp_path / "tiny.onnx"
    assert main(["reid", "export", best_pt, "-o", str(onnx)]) == 0
    message = capsys.readouterr().err
    assert "(B, 3, 32, 32) -> (B, 512)" in message and "max |onnx - torch| = " in message
    assert onnx_model_info(onnx).input_size == (32, 32)


def test_summary_lists_every_registered_model(capsys):
    assert main(["reid", "summary", "--num-classes", "10"]) == 0
    table = capsys.readouterr().out
    for name in MODELS.names():
        assert f" {name} " in table
    glamor = build_model("glamor", num_classes=10)
    row = next(line for line in table.splitlines() if " glamor " in line)
    expected = sum(p.numel() for p in glamor.parameters())
    assert f"{expected / 1e6:.2f} M" in row and " 512 " in row and "208 x 208" in row


def test_model_summaries_count_parameters_with_the_classifier():
    [(name, five, feature, size)] = model_summaries(5, ["glamor"])
    [(_, six, _, _)] = model_summaries(6, ["glamor"])
    # GLAMOR's classifier is a bias-free Linear(512, classes): one more class, 512 more weights
    assert (name, feature, size) == ("glamor", 512, (208, 208)) and six - five == 512


def test_errors_are_one_line_with_exit_2(experiment, tmp_path, capsys):
    cases = [
        (["reid", "eval"], "give CONFIG (its output_dir's best.pt) or --checkpoint CKPT"),
        (["reid", "eval", str(experiment)], "no checkpoint in"),
        (["reid", "train", str(tmp_path / "missing.yaml")], "config not found"),
        (["reid", "train", str(experiment), "--epochs", "0"], "--epochs must be >= 1, got 0"),
        (["reid", "train", str(experiment), "--resume"], "--resume: no checkpoint at"),
        (["reid", "train", str(experiment), "--device", "tpu"], "unknown device 'tpu'"),
        (
            ["reid", "export", str(tmp_path / "missing.pt"), "-o", str(tmp_path / "m.onnx")],
            "checkpoint not found",
        ),
        (["reid", "summary", "--num-classes", "1"], "--num-classes must be >= 2, got 1"),
    ]
    for argv, message in cases:
        assert main(argv) == 2, argv
        error = capsys.readouterr().err.strip()
        assert error.startswith("mtmc reid: error: ") and message in error and "\n" not in error, error
