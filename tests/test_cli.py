"""The ``mtmc`` command line: help, JSON output, and one-line errors without tracebacks."""

import json
import subprocess
import sys

import pytest

from mtmc.cli import build_parser, main

REQUIRED_KEYS = {
    "idf1", "idp", "idr", "mota", "motp", "recall", "precision",
    "num_false_positives", "num_misses", "num_switches", "hota",
}  # fmt: skip


def test_help_lists_commands_and_eval_options(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0
    assert "eval" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["eval", "--help"])
    out = capsys.readouterr().out
    for option in ("--mode", "--roi-dir", "--iou", "--json", "AI City"):
        assert option in out


def test_every_output_folder_option_has_the_short_o():
    """A user who types ``-o`` after one command types it after all of them."""
    parser = build_parser()
    for argv in (["run", "c.yaml", "-o", "D"], ["matcher", "c.yaml", "-o", "D"],
                 ["reid", "train", "c.yaml", "-o", "D"], ["reid", "adapt", "c.yaml", "-o", "D"],
                 ["simulate", "c.yaml", "-o", "D"], ["aicity", "root", "--split", "test", "-o", "D"]):
        assert parser.parse_args(argv).out == "D", argv


def test_eval_mot_folders_writes_json(data_dir, tmp_path, capsys):
    out = tmp_path / "scores.json"
    fixtures = data_dir / "mot-fixtures"
    code = main(["eval", str(fixtures), str(fixtures), "--pred-name", "test.txt", "--json", str(out)])
    assert code == 0
    results = json.loads(out.read_text())
    assert set(results) == {"overall", "TUD-Campus", "TUD-Stadtmitte"}
    for name in results:
        assert REQUIRED_KEYS <= set(results[name])
    assert results["overall"]["idf1"] == pytest.approx(0.624296, abs=1e-6)
    table = capsys.readouterr().out
    assert "TUD-Campus" in table and "62.4" in table


def test_eval_aicity_mode(tmp_path):
    gt = tmp_path / "gt.txt"
    gt.write_text("1 1 1 10 10 50 50 -1 -1\n2 1 1 10 10 50 50 -1 -1\n2 1 2 12 10 50 50 -1 -1\n")
    pred = tmp_path / "pred.txt"
    pred.write_text("1 5 1 10 10 50 50 -1 -1\n2 5 1 10 10 50 50 -1 -1\n2 5 2 12 10 50 50 -1 -1\n")
    out = tmp_path / "s.json"
    assert (
        main(["eval", str(gt), str(pred), "--mode", "aicity", "--json", str(out), "-q", "--per-camera"]) == 0
    )
    results = json.loads(out.read_text())
    assert set(results) == {"overall", "c001", "c002"}
    assert results["overall"]["idf1"] == 1.0


def test_malformed_line_is_one_line_and_exit_2(tmp_path, capsys):
    gt = tmp_path / "gt.txt"
    gt.write_text("1,1,0,0,10,10\n1,2,0,0,ten,10\n")
    assert main(["eval", str(gt), str(gt)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0
    assert f"{gt}:2" in err and "'ten' is not a number" in err


def test_missing_file_and_extra_camera(tmp_path, capsys):
    assert main(["eval", str(tmp_path / "no.txt"), str(tmp_path / "no.txt")]) == 2
    assert "ground truth not found" in capsys.readouterr().err
    gt = tmp_path / "gt.txt"
    gt.write_text("1 1 1 10 10 50 50\n2 1 1 10 10 50 50\n")
    pred = tmp_path / "pred.txt"
    pred.write_text("1 1 1 10 10 50 50\n3 1 1 10 10 50 50\n")
    assert main(["eval", str(gt), str(pred), "--mode", "aicity"]) == 2
    err = capsys.readouterr().err
    assert "c003" in err and "--ignore-extra-cameras" in err


def test_bad_option_value(tmp_path, capsys):
    gt = tmp_path / "gt.txt"
    gt.write_text("1,1,0,0,10,10\n")
    assert main(["eval", str(gt), str(gt), "--iou", "1.5"]) == 2
    assert "--iou" in capsys.readouterr().err


def test_config_gives_defaults(data_dir, tmp_path):
    config = tmp_path / "c.yaml"
    fixtures = data_dir / "mot-fixtures"
    config.write_text(
        f"eval:\n  gt: {fixtures}\n  pred: {fixtures}\n  pred_name: test.txt\n  json: out/s.json\n"
    )
    assert main(["eval", "--config", str(config), "-q"]) == 0
    assert json.loads((tmp_path / "out" / "s.json").read_text())["overall"]["num_switches"] == 14


def test_entry_point_user_error_has_no_traceback(tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_text("garbage\n")
    proc = subprocess.run(
        [sys.executable, "-m", "mtmc", "eval", str(bad), str(bad)], capture_output=True, text=True
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert proc.stderr.startswith("mtmc eval: error: ") and f"{bad}:1" in proc.stderr


def test_track_picks_a_detector_by_name_and_says_which_has_the_classes(data_dir, tmp_path, capsys):
    """The vehicle detector has one vehicle class: asked for people it names the fix (without
    --detector the defaults pick one that has them: test_default_parts), and --detector swaps in
    another detector by name (an unknown one lists the valid names)."""
    video = str(data_dir / "videos" / "street-a.mp4")
    assert main(["track", video, "-o", str(tmp_path / "t.txt"), "--detector", "openvino", "--classes", "person", "-q"]) == 2
    assert "use a detector that has them, e.g. onnx-yolox" in capsys.readouterr().err
    assert main(["track", video, "-o", str(tmp_path / "t.txt"), "--detector", "yolo9", "-q"]) == 2
    assert "unknown detector 'yolo9': valid names are file, onnx-yolox, openvino" in capsys.readouterr().err


def test_run_summary_counts_vehicles_and_those_that_crossed_cameras(tmp_path):
    from mtmc.commands.run import summary

    rows = ["1 7 1 0 0 10 10 -1 -1", "2 7 5 0 0 10 10 -1 -1", "1 8 2 0 0 10 10 -1 -1", "1 8 3 0 0 10 10 -1 -1"]
    (tmp_path / "s.txt").write_text("\n".join(rows) + "\n")
    assert summary(tmp_path / "s.txt") == "4 boxes on 2 cameras: 2 vehicles, 1 of them seen by more than one camera"


def test_the_runtime_runs_without_torch_and_training_says_what_to_install(data_dir, tmp_path) -> None:
    """Issue 33, the lean install: with torch and torchvision unimportable (as on a camera host
    installed without mtmc[train]), `mtmc track` runs the default parts on a real clip, and a
    command that needs torch says so in one line, exit 2."""
    import subprocess
    import sys

    blocked = (
        "import sys, runpy\n"
        "class Lean:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('torch', 'torchvision'):\n"
        "            raise ModuleNotFoundError(f'No module named {name!r}', name=name.split('.')[0])\n"
        "sys.meta_path.insert(0, Lean())\n"
        "sys.argv = ['mtmc', *sys.argv[1:]]\n"
        "runpy.run_module('mtmc', run_name='__main__')\n"
    )
    from helpers import short_clips

    clip = short_clips(data_dir, tmp_path, 60)["street-b"]

    def mtmc(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-c", blocked, *args], capture_output=True, text=True, timeout=600)

    tracked = mtmc("track", str(clip), "-o", str(tmp_path / "tracks"))
    assert tracked.returncode == 0, tracked.stderr[-2000:]
    assert (tmp_path / "tracks").stat().st_size > 0  # MOTChallenge rows of the default parts
    summary = mtmc("reid", "summary")
    assert summary.returncode == 2
    assert summary.stderr.strip().splitlines()[-1] == (
        "mtmc reid: error: this needs torch (re-id training, export, .pt weights, the Mask R-CNN detectors), "
        "not installed: pip install 'mtmc[train]' (or uv sync --extra train)"
    )
