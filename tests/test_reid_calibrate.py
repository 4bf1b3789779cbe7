"""``mtmc reid calibrate`` on a few real vehicles of vehicle-reid-2cam, the shipped calibrations,
which calibration a run's embedder gets (inline > file > manifest > sidecar > uncalibrated), and
one-line errors (exit 2)."""

from pathlib import Path

import numpy as np
import pytest
import yaml

from mtmc.cli import main
from mtmc.config import load_config
from mtmc.errors import MtmcError
from mtmc.match.evidence import UNCALIBRATED, AppearanceCalibration
from mtmc.reid import build_embedder
from mtmc.reid.calibration import appearance_calibration, read_calibration, roc_auc
from mtmc.weights import load_manifest

SHIPPED = ("glamor-mobilenetv2-2cam", "glamor-adapted-street-a", "mobilenetv2-imagenet")
INLINE = {"same": {"mean": 0.1, "std": 0.05, "pairs": 10}, "different": {"mean": 0.9, "std": 0.1, "pairs": 90}}


def two_camera_subset(data_dir: Path, root: Path, vehicles: int) -> Path:
    """A vehicle-reid-2cam folder of the first ``vehicles`` val vehicles (links to the shared images)."""
    source = data_dir / "vehicle-reid-2cam"
    names = [n for n in (source / "val.txt").read_text().split() if n]
    chosen = sorted({n.rsplit("_cam", 1)[0] for n in names})[:vehicles]
    picked = [n for n in names if n.rsplit("_cam", 1)[0] in chosen]
    (root / "images" / "train").mkdir(parents=True)
    for name in picked:
        (root / "images" / "train" / name).symlink_to(source / "images" / "train" / name)
    (root / "train.txt").write_text("")
    (root / "val.txt").write_text("\n".join(picked) + "\n")
    return root


def one_line_error(capsys, *parts: str) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("mtmc reid: error:"), err
    for part in parts:
        assert part in err, err
    return err


def test_calibrate_writes_a_calibration_that_loads_back(data_dir, tmp_path, capsys):
    root = two_camera_subset(data_dir, tmp_path / "cams", vehicles=6)
    out, plot = tmp_path / "cal.yaml", tmp_path / "cal.png"
    args = ["reid", "calibrate", "glamor-mobilenetv2-2cam", str(root), "-o", str(out), "--plot", str(plot), "-q"]
    assert main(args) == 0
    summary = capsys.readouterr().out
    assert "ROC AUC" in summary and "LLR = 0 at distance" in summary
    calibration = read_calibration(out)
    assert list(yaml.safe_load(out.read_text())) == ["calibration"]
    assert calibration.same.pairs == 6 and calibration.different.pairs == 6 * 5
    assert calibration.same.mean < calibration.different.mean
    assert calibration.data == "vehicle-reid-2cam val, 6 vehicles, cross-camera"
    assert plot.read_bytes()[:4] == b"\x89PNG"


def test_shipped_calibrations_say_same_vehicles_are_close():
    manifest = load_manifest()
    for name in SHIPPED:
        calibration = AppearanceCalibration.from_dict(manifest[name].calibration)
        assert calibration.same.pairs > 0 and calibration.different.pairs > calibration.same.pairs
        assert calibration.llr(calibration.same.mean) > 0 > calibration.llr(calibration.different.mean), name
        found, source = appearance_calibration({"name": "reid", "weights": name})
        assert found == calibration and name in source


def test_roc_auc_counts_ties_half():
    assert roc_auc(np.array([0.1, 0.2]), np.array([0.3, 0.4])) == 1.0
    assert roc_auc(np.array([0.5]), np.array([0.5, 0.1])) == 0.25


def test_resolution_inline_file_manifest_sidecar_uncalibrated(tmp_path):
    assert appearance_calibration(None) == (None, "motion only")
    named = {"name": "reid", "weights": "glamor-mobilenetv2-2cam"}
    shipped = AppearanceCalibration.from_dict(load_manifest()["glamor-mobilenetv2-2cam"].calibration)
    assert appearance_calibration(named)[0] == shipped
    assert appearance_calibration({"name": "mobilenetv2-imagenet"})[1] == "weights manifest (mobilenetv2-imagenet)"

    inline, source = appearance_calibration({**named, "calibration": INLINE})
    assert inline == AppearanceCalibration.from_dict(INLINE) and "calibration option" in source
    file = tmp_path / "mine.yaml"
    file.write_text(yaml.safe_dump({"calibration": {**INLINE, "data": "mine"}}))
    from_file, source = appearance_calibration({**named, "calibration": str(file)})
    assert from_file.data == "mine" and source == str(file)

    weights = tmp_path / "model.onnx"
    weights.write_bytes(b"")
    sidecar = Path(f"{weights}.calibration.yaml")
    uncalibrated, source = appearance_calibration({"name": "onnx", "weights": str(weights)})
    assert uncalibrated is UNCALIBRATED
    assert f"mtmc reid calibrate {weights} DATA -o {sidecar}" in source and f"calibration: {sidecar}" in source
    sidecar.write_text(yaml.safe_dump({"calibration": {**INLINE, "data": "beside"}}))
    assert appearance_calibration({"name": "onnx", "weights": str(weights)}) == (read_calibration(sidecar), str(sidecar))
    assert appearance_calibration({"name": "onnx", "weights": str(weights), "calibration": str(file)})[0].data == "mine"


@pytest.mark.parametrize(
    "text",
    ["calibration: {same: {mean: 0.2}}\n", "calibration: [1, 2]\n", "calibration: {same: [\n"],
    ids=["missing keys", "not a mapping", "not yaml"],
)
def test_a_malformed_calibration_file_is_named(tmp_path, text):
    file = tmp_path / "bad.calibration.yaml"
    file.write_text(text)
    with pytest.raises(MtmcError, match="bad.calibration.yaml"):
        appearance_calibration({"name": "reid", "weights": "glamor-mobilenetv2-2cam", "calibration": str(file)})
    with pytest.raises(MtmcError, match="calibration file not found: .*absent.yaml .*mtmc reid calibrate"):
        read_calibration(tmp_path / "absent.yaml")


def test_bad_inputs_are_one_line_and_exit_2(data_dir, tmp_path, capsys):
    missing = tmp_path / "nowhere"
    assert main(["reid", "calibrate", "glamor-mobilenetv2-2cam", str(missing)]) == 2
    one_line_error(capsys, "dataset folder not found", str(missing))

    root = two_camera_subset(data_dir, tmp_path / "cams", vehicles=3)
    assert main(["reid", "calibrate", "no-such-model", str(root)]) == 2
    one_line_error(capsys, "unknown weights 'no-such-model'", "glamor-mobilenetv2-2cam")

    lonely = two_camera_subset(data_dir, tmp_path / "lonely", vehicles=1)
    assert main(["reid", "calibrate", "glamor-mobilenetv2-2cam", str(lonely)]) == 2
    one_line_error(capsys, "vehicle-reid-2cam val", "1 vehicles seen by two or more cameras", "at least 2")

    assert main(["reid", "calibrate", "glamor-mobilenetv2-2cam", str(root), "--split", "test"]) == 2
    one_line_error(capsys, "test.txt not found")


def test_an_embedder_config_with_a_calibration_builds_and_finds_it(tmp_path):
    (tmp_path / "cal").mkdir()
    (tmp_path / "cal" / "mine.yaml").write_text(yaml.safe_dump({"calibration": {**INLINE, "data": "mine"}}))
    config_path = tmp_path / "city.yaml"
    config_path.write_text("embedder: {name: mobilenetv2-imagenet, calibration: cal/mine.yaml}\n")
    part = load_config(config_path).embedder
    assert part.options()["calibration"] == str(tmp_path / "cal" / "mine.yaml")  # beside the config
    embedder = build_embedder(part.name, **{"threads": 1, **part.options()})
    assert embedder.dim == 1280
    assert appearance_calibration(part.model_dump(mode="json"))[0].data == "mine"


def test_other_readers_calibrate_their_query_and_gallery_or_train(tmp_path, capsys):
    from test_reid_engine import write_folders_dataset

    root = write_folders_dataset(tmp_path / "folders")  # query + gallery: 3 vehicles, 2 cameras
    for split, vehicles in (("val", 3), ("train", 4)):
        out = tmp_path / f"{split}.yaml"
        assert main(["reid", "calibrate", "mobilenetv2-imagenet", str(root), "--split", split, "-o", str(out), "-q"]) == 0
        calibration = read_calibration(out)
        assert (calibration.same.pairs, calibration.different.pairs) == (vehicles, vehicles * (vehicles - 1))
        assert calibration.data == f"folders {split}, {vehicles} vehicles, cross-camera"
    capsys.readouterr()
    assert main(["reid", "calibrate", "mobilenetv2-imagenet", str(root), "--split", "query"]) == 2
    one_line_error(capsys, "--split must be train, val or test")
