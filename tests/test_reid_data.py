"""Re-id data: dataset readers on tiny fake folders of each layout, the image Dataset and its
collate, the P x K identity sampler, and the transforms."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from mtmc.errors import InputFormatError, MtmcError
from mtmc.reid.data import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    IdentityBatchSampler,
    ReidImageDataset,
    collate_batch,
    load_dataset,
    read_image,
    train_transforms,
)
from mtmc.reid.data import transforms as reid_transforms


def write_image(path: Path, value: int = 128, size: tuple[int, int] = (8, 8)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), np.full((*size, 3), value, np.uint8))
    return path


def write_label_xml(path: Path, items: list[dict[str, str]]) -> None:
    """As VeRi / AI City ship them: declared gb2312, which expat alone cannot read."""
    lines = [
        '<?xml version="1.0" encoding="gb2312"?>',
        '<TrainingImages Version="1.0">',
        f'<Items number="{len(items)}">',
    ]
    lines += [
        "<Item " + " ".join(f'{key}="{value}"' for key, value in item.items()) + " />" for item in items
    ]
    lines += ["</Items>", "</TrainingImages>"]
    path.write_bytes("\n".join(lines).encode("gb2312"))


# ---------------------------------------------------------------- VeRi-776

VERI_TRAIN = [
    "0001_c001_00016450_0.jpg",
    "0001_c002_00016455_1.jpg",
    "0005_c001_00020000_0.jpg",
    "0005_c003_00020010_0.jpg",
]
VERI_QUERY = ["0002_c001_00030600_0.jpg"]
VERI_TEST = [
    "0002_c001_00030600_0.jpg",
    "0002_c001_00030605_1.jpg",
    "0002_c002_00030700_0.jpg",
    "0003_c002_00040000_0.jpg",
]


def make_veri(root: Path, labels: bool = True) -> Path:
    for folder, names in (
        ("image_train", VERI_TRAIN),
        ("image_query", VERI_QUERY),
        ("image_test", VERI_TEST),
    ):
        for name in names:
            write_image(root / folder / name)
    if labels:
        colours = {"0001": "3", "0005": "1", "0002": "10", "0003": "2"}
        types = {"0001": "4", "0005": "4", "0002": "1", "0003": "9"}

        def item(name: str) -> dict[str, str]:
            vehicle, camera = name.split("_")[:2]
            return {
                "imageName": name,
                "vehicleID": vehicle,
                "cameraID": camera,
                "colorID": colours[vehicle],
                "typeID": types[vehicle],
            }

        write_label_xml(root / "train_label.xml", [item(n) for n in VERI_TRAIN])
        write_label_xml(root / "test_label.xml", [item(n) for n in VERI_TEST])
        colour_names = [
            "yellow",
            "orange",
            "green",
            "gray",
            "red",
            "blue",
            "white",
            "golden",
            "brown",
            "black",
        ]
        (root / "list_color.txt").write_text("".join(f"{i} {n}\n" for i, n in enumerate(colour_names, 1)))
        type_names = ["sedan", "suv", "van", "hatchback", "mpv", "pickup", "bus", "truck", "estate"]
        (root / "list_type.txt").write_text("".join(f"{i} {n}\n" for i, n in enumerate(type_names, 1)))
        (root / "test_track.txt").write_text(
            "0002_c001_1 0002_c001_00030600_0.jpg 0002_c001_00030605_1.jpg \n0002_c002_1 0002_c002_00030700_0.jpg \n"
        )
    return root


def test_veri776_splits_pids_cameras_and_relabelling(tmp_path: Path) -> None:
    splits = load_dataset("veri776", make_veri(tmp_path))
    assert (len(splits.train), len(splits.query), len(splits.gallery)) == (4, 1, 4)
    assert [s.pid for s in splits.train] == [0, 0, 1, 1]  # 0001 -> 0, 0005 -> 1
    assert [s.camid for s in splits.train] == [1, 2, 1, 3]
    assert splits.num_train_pids == 2 and splits.num_train_cams == 3
    assert (splits.query[0].pid, splits.query[0].camid) == (2, 1)  # test ids keep their numbers
    assert [s.pid for s in splits.gallery] == [2, 2, 2, 3]
    assert splits.query[0].path == tmp_path / "image_query" / VERI_QUERY[0]
    assert splits.test_labelled


def test_veri776_colour_type_labels_and_tracks(tmp_path: Path) -> None:
    splits = load_dataset("veri776", make_veri(tmp_path))
    assert splits.num_colours == 10 and splits.colour_names[2] == "green"
    assert splits.num_types == 9 and splits.type_names[3] == "hatchback"
    assert [s.colour for s in splits.train] == [2, 2, 0, 0]  # colorID 3 -> class 2, 1 -> 0
    assert [s.type for s in splits.train] == [3, 3, 3, 3]
    assert splits.query[0].colour == 9 and splits.query[0].type == 0
    assert [s.track for s in splits.gallery] == [0, 0, 1, -1]
    assert splits.query[0].track == 0
    assert all(s.track == -1 for s in splits.train)


def test_veri776_without_label_files_has_no_attributes(tmp_path: Path) -> None:
    splits = load_dataset("veri776", make_veri(tmp_path, labels=False))
    assert splits.num_colours == 0 and splits.num_types == 0
    assert {(s.colour, s.type, s.track) for s in splits.train + splits.gallery} == {(-1, -1, -1)}


def test_veri776_official_name_list_decides_the_split(tmp_path: Path) -> None:
    root = make_veri(tmp_path)
    (root / "name_test.txt").write_text("\n".join(VERI_TEST[:2]) + "\n")
    assert len(load_dataset("veri776", root).gallery) == 2


def test_veri776_wrong_root_names_the_missing_folder_and_layout(tmp_path: Path) -> None:
    write_image(tmp_path / "image_train" / VERI_TRAIN[0])
    with pytest.raises(MtmcError, match=r"image_query not found.*image_train/, image_query/, image_test/"):
        load_dataset("veri776", tmp_path)


def test_veri776_rejects_a_foreign_image_name(tmp_path: Path) -> None:
    root = make_veri(tmp_path, labels=False)
    write_image(root / "image_train" / "car.jpg")
    with pytest.raises(InputFormatError, match="car.jpg: not a VeRi name"):
        load_dataset("veri776", root)


# ---------------------------------------------------------------- VehicleID


def make_vehicleid(root: Path) -> Path:
    train = [("0000001", 1), ("0000002", 1), ("0000003", 7), ("0000004", 7), ("0000005", 7)]
    test = [
        ("0001001", 20),
        ("0001002", 20),
        ("0001003", 20),
        ("0001004", 21),
        ("0001005", 21),
        ("0001006", 22),
    ]
    for image, _ in train + test:
        write_image(root / "image" / f"{image}.jpg")
    split = root / "train_test_split"
    split.mkdir()
    (split / "train_list.txt").write_text("".join(f"{i} {v}\n" for i, v in train))
    (split / "test_list_800.txt").write_text("".join(f"{i} {v}\n" for i, v in test))
    (root / "attribute").mkdir()
    (root / "attribute" / "color_attr.txt").write_text("1 0\n7 5\n20 6\n21 3\n")
    (root / "attribute" / "model_attr.txt").write_text("1 12\n7 249\n20 0\n22 12\n")
    return root


def test_vehicleid_train_split_and_attributes(tmp_path: Path) -> None:
    splits = load_dataset("vehicleid", make_vehicleid(tmp_path))
    assert [s.pid for s in splits.train] == [0, 0, 1, 1, 1]
    assert splits.train[0].path == tmp_path / "image" / "0000001.jpg"
    assert splits.colour_names == ("0", "3", "5", "6") and splits.type_names == ("0", "12", "249")
    assert [s.colour for s in splits.train] == [0, 0, 2, 2, 2]
    assert [s.type for s in splits.train] == [1, 1, 2, 2, 2]
    by_pid = {s.pid: (s.colour, s.type) for s in splits.query + splits.gallery}
    assert by_pid == {20: (3, 0), 21: (1, -1), 22: (-1, 1)}  # -1 where the attribute file is silent


def test_vehicleid_one_random_gallery_image_per_identity(tmp_path: Path) -> None:
    root = make_vehicleid(tmp_path)
    splits = load_dataset("vehicleid", root, seed=0)
    assert sorted(s.pid for s in splits.gallery) == [20, 21, 22]
    assert Counter(s.pid for s in splits.query) == {20: 2, 21: 1}
    assert {s.camid for s in splits.query} == {0} and {s.camid for s in splits.gallery} == {1}
    assert {s.path for s in splits.query} | {s.path for s in splits.gallery} == {
        root / "image" / f"000100{i}.jpg" for i in range(1, 7)
    }
    again = load_dataset("vehicleid", root, seed=0)
    assert again.gallery == splits.gallery
    draws = {
        tuple(s.path.name for s in load_dataset("vehicleid", root, seed=seed).gallery) for seed in range(8)
    }
    assert len(draws) > 1


def test_vehicleid_missing_test_list_names_the_sizes_present(tmp_path: Path) -> None:
    root = make_vehicleid(tmp_path)
    with pytest.raises(MtmcError, match=r"test_list_2400.txt not found; test sizes present: 800"):
        load_dataset("vehicleid", root, test_size=2400)
    with pytest.raises(MtmcError, match=r"VehicleID: .*image not found.*train_test_split/train_list.txt"):
        load_dataset("vehicleid", tmp_path / "image")


# ---------------------------------------------------------------- VeRi-Wild


def make_veriwild(root: Path) -> Path:
    rows = {
        ("00001", "000001"): ("5", "Audi A4", "sedan", "white"),
        ("00001", "000002"): ("7", "Audi A4", "sedan", "white"),
        ("00002", "000003"): ("5", "Ford Transit", "van", "black"),
        ("00009", "000010"): ("12", "BYD F3", "sedan", "red"),
        ("00009", "000011"): ("13", "BYD F3", "sedan", "red"),
    }
    for vehicle, image in rows:
        write_image(root / "images" / vehicle / f"{image}.jpg")
    split = root / "train_test_split"
    split.mkdir()
    (split / "vehicle_info.txt").write_text(
        "id/image;Camera ID;Time;Model;Type;Color\n"
        + "".join(
            f"{v}/{i};{c};2018-03-11 11:40:09;{m};{t};{col}\n" for (v, i), (c, m, t, col) in rows.items()
        )
    )
    (split / "train_list.txt").write_text("00001/000001\n00001/000002\n00002/000003\n")
    (split / "test_3000.txt").write_text("00009/000010\n")
    (split / "test_3000_query.txt").write_text("00009/000011.jpg\n")
    return root


def test_veriwild_splits_cameras_and_attributes(tmp_path: Path) -> None:
    splits = load_dataset("veriwild", make_veriwild(tmp_path))
    assert [(s.pid, s.camid) for s in splits.train] == [(0, 5), (0, 7), (1, 5)]
    assert [(s.pid, s.camid) for s in splits.query] == [(9, 13)]
    assert [(s.pid, s.camid) for s in splits.gallery] == [(9, 12)]
    assert splits.query[0].path == tmp_path / "images" / "00009" / "000011.jpg"
    assert splits.colour_names == ("black", "red", "white") and splits.type_names == ("sedan", "van")
    assert [(s.colour, s.type) for s in splits.train] == [(2, 0), (2, 0), (0, 1)]
    assert (splits.gallery[0].colour, splits.gallery[0].type) == (1, 0)


def test_veriwild_errors(tmp_path: Path) -> None:
    root = make_veriwild(tmp_path)
    with pytest.raises(MtmcError, match=r"test_5000.txt not found; test sizes present: 3000"):
        load_dataset("veriwild", root, test_size=5000)
    (root / "train_test_split" / "train_list.txt").write_text("00001/000001\n00003/000099\n")
    with pytest.raises(
        InputFormatError, match=r"train_list.txt:2: '00003/000099' has no row in .*vehicle_info.txt"
    ):
        load_dataset("veriwild", root)
    (root / "train_test_split" / "vehicle_info.txt").unlink()
    with pytest.raises(MtmcError, match=r"vehicle_info.txt not found"):
        load_dataset("veriwild", root)


# ---------------------------------------------------------------- CityFlow-ReID / AI City Track 2


def make_cityflow(root: Path, test: bool = True) -> Path:
    items = [("000001.jpg", "0095", "c001"), ("000002.jpg", "0095", "c003"), ("000003.jpg", "0007", "c036")]
    for name, _, _ in items:
        write_image(root / "image_train" / name)
    write_label_xml(
        root / "train_label.xml", [{"imageName": n, "vehicleID": v, "cameraID": c} for n, v, c in items]
    )
    (root / "train_track.txt").write_text("000001.jpg 000002.jpg\n000003.jpg\n")
    if test:
        for name in ("000001.jpg", "000002.jpg"):
            write_image(root / "image_query" / name)
        for name in ("000001.jpg", "000002.jpg", "000003.jpg"):
            write_image(root / "image_test" / name)
        (root / "name_query.txt").write_text("000001.jpg\n000002.jpg\n")
        (root / "test_track.txt").write_text("000003.jpg 000001.jpg\n000002.jpg\n")
    return root


def test_cityflow_train_split_is_labelled_and_the_test_split_is_not(tmp_path: Path) -> None:
    splits = load_dataset("cityflow-reid", make_cityflow(tmp_path))
    assert [(s.pid, s.camid, s.track) for s in splits.train] == [(1, 1, 0), (1, 3, 0), (0, 36, 1)]
    assert splits.num_colours == 0 and splits.train[0].colour == -1
    assert not splits.test_labelled
    assert len(splits.query) == 2 and len(splits.gallery) == 3
    assert {(s.pid, s.camid) for s in splits.query + splits.gallery} == {(-1, -1)}
    assert [s.track for s in splits.gallery] == [0, 1, 0] and [s.track for s in splits.query] == [-1, -1]
    assert "not public" in splits.summary()


def test_cityflow_train_only_and_wrong_root(tmp_path: Path) -> None:
    splits = load_dataset("cityflow-reid", make_cityflow(tmp_path, test=False))
    assert len(splits.train) == 3 and splits.query == [] and splits.gallery == []
    (tmp_path / "train_label.xml").unlink()
    with pytest.raises(MtmcError, match=r"CityFlow-ReID: .*train_label.xml not found.*vehicleID, cameraID"):
        load_dataset("cityflow-reid", tmp_path)


# ---------------------------------------------------------------- generic folders


def test_folders_whole_tree_is_the_train_split(tmp_path: Path) -> None:
    write_image(tmp_path / "van_b" / "north" / "1.png")
    write_image(tmp_path / "van_b" / "south" / "2.JPG")
    write_image(tmp_path / "car_a" / "north" / "3.jpeg")
    (tmp_path / "car_a" / "north" / "notes.txt").write_text("not an image")
    splits = load_dataset("folders", tmp_path)
    assert [(s.path.name, s.pid, s.camid) for s in splits.train] == [
        ("3.jpeg", 0, 0),
        ("1.png", 1, 0),
        ("2.JPG", 1, 1),
    ]
    assert splits.query == [] and splits.gallery == []


def test_folders_with_splits_share_camera_and_identity_numbers(tmp_path: Path) -> None:
    write_image(tmp_path / "train" / "a" / "cam2" / "1.jpg")
    write_image(tmp_path / "query" / "x" / "cam1" / "2.jpg")
    write_image(tmp_path / "gallery" / "x" / "cam2" / "3.jpg")
    write_image(tmp_path / "gallery" / "w" / "cam2" / "4.jpg")
    splits = load_dataset("folders", tmp_path)
    assert [(s.pid, s.camid) for s in splits.train] == [(0, 1)]
    assert [(s.pid, s.camid) for s in splits.query] == [(1, 0)]
    assert [(s.pid, s.camid) for s in splits.gallery] == [(0, 1), (1, 1)]  # w -> 0, x -> 1


def test_folders_layout_errors(tmp_path: Path) -> None:
    with pytest.raises(MtmcError, match=r"no images under .*ROOT/<identity>/<camera>/<image>"):
        load_dataset("folders", tmp_path)
    write_image(tmp_path / "car_a" / "1.jpg")
    with pytest.raises(
        MtmcError, match=r"car_a holds images \(1.jpg, ...\) directly; put them in a camera folder"
    ):
        load_dataset("folders", tmp_path)
    write_image(tmp_path / "split" / "train" / "a" / "c" / "1.jpg")
    write_image(tmp_path / "split" / "query" / "a" / "c" / "1.jpg")
    with pytest.raises(MtmcError, match=r"gallery not found; query/ and gallery/ go together"):
        load_dataset("folders", tmp_path / "split")


def make_two_camera(root: Path, train: list[str], val: list[str]) -> Path:
    """vehicle-reid-2cam's layout: every vehicle of the lists with one image per camera."""
    for listing, vehicles in (("train.txt", train), ("val.txt", val)):
        names = [f"{vehicle}_cam{camera}.jpg" for vehicle in vehicles for camera in (1, 2)]
        for name in names:
            write_image(root / "images" / "train" / name)
        (root / listing).write_text("\n".join(names) + "\n")
    return root


def test_two_camera_identities_cameras_types_and_directions(tmp_path: Path) -> None:
    root = make_two_camera(tmp_path, ["car_0002", "motorcycle_0002", "truck_0001"], ["car_0005", "bus_0001"])
    forward = load_dataset("vehicle-reid-2cam", root)
    assert forward.type_names == ("bus", "car", "motorcycle", "truck")
    # car_0002 and motorcycle_0002 share a number but are two vehicles
    assert forward.num_train_pids == 3 and forward.num_train_cams == 2
    assert {(s.path.name, s.pid, s.camid, s.type) for s in forward.query} == {
        ("bus_0001_cam1.jpg", 0, 0, 0),
        ("car_0005_cam1.jpg", 1, 0, 1),
    }
    assert {s.camid for s in forward.gallery} == {1} and len(forward.gallery) == 2
    backward = load_dataset("vehicle-reid-2cam", root, query_camera=2)
    assert {s.path for s in backward.query} == {s.path for s in forward.gallery}
    final = load_dataset("vehicle-reid-2cam", root, train=["train.txt"], test_list="val.txt")
    assert [s.path for s in final.train] == [s.path for s in forward.train]
    every = load_dataset("vehicle-reid-2cam", root, train=["train.txt", "val.txt"], test_list=None)
    assert every.num_train_pids == 5 and not every.query and not every.gallery


def test_two_camera_errors_name_the_problem(tmp_path: Path) -> None:
    root = make_two_camera(tmp_path, ["car_0001"], ["car_0002"])
    with pytest.raises(MtmcError, match="query_camera must be 1 or 2, got 3"):
        load_dataset("vehicle-reid-2cam", root, query_camera=3)
    with pytest.raises(MtmcError, match=r"1 vehicles \(e.g. car_0002\) are in both"):
        load_dataset("vehicle-reid-2cam", root, train=["train.txt", "val.txt"])
    (root / "val.txt").write_text("car_0002_cam1.jpg\nphoto.jpg\n")
    with pytest.raises(InputFormatError, match="val.txt:2.*'photo.jpg' is not <type>_<NNNN>_cam<1|2>.jpg"):
        load_dataset("vehicle-reid-2cam", root)
    (root / "val.txt").write_text("car_0009_cam1.jpg\n")
    with pytest.raises(MtmcError, match="car_0009_cam1.jpg is listed but not found"):
        load_dataset("vehicle-reid-2cam", root)
    with pytest.raises(MtmcError, match=r"elsewhere/images/train not found"):
        load_dataset("vehicle-reid-2cam", tmp_path / "elsewhere")


@pytest.mark.integration
def test_two_camera_real_dataset_splits(data_dir: Path) -> None:
    splits = load_dataset("vehicle-reid-2cam", data_dir / "vehicle-reid-2cam")
    assert (splits.num_train_pids, len(splits.train)) == (405, 810)
    assert len(splits.query) == len(splits.gallery) == 102
    assert sorted(s.pid for s in splits.query) == sorted(s.pid for s in splits.gallery) == list(range(102))


def test_unknown_dataset_lists_the_names() -> None:
    with pytest.raises(
        MtmcError, match=r"unknown re-id dataset 'veri'.*cityflow-reid, folders, vehicle-reid-2cam, vehicleid, veri776, veriwild"
    ):
        load_dataset("veri", "/nowhere")


# ---------------------------------------------------------------- Dataset and collate


def test_read_image_is_rgb_and_unreadable_files_are_named(tmp_path: Path) -> None:
    path = tmp_path / "red.png"
    bgr = np.zeros((4, 6, 3), np.uint8)
    bgr[..., 2] = 255
    cv2.imwrite(str(path), bgr)
    image = read_image(path)
    assert image.shape == (3, 4, 6) and image.dtype == torch.uint8
    assert image[0].min() == 255 and image[1:].max() == 0
    (tmp_path / "broken.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(InputFormatError, match="broken.jpg: cannot be decoded as an image"):
        read_image(tmp_path / "broken.jpg")
    with pytest.raises(InputFormatError, match="missing.jpg: cannot be read"):
        read_image(tmp_path / "missing.jpg")


def test_dataset_items_and_collated_batch(tmp_path: Path) -> None:
    splits = load_dataset("veri776", make_veri(tmp_path))
    dataset = ReidImageDataset(splits.train, reid_transforms.test_transforms((32, 16)))
    item = dataset[2]
    assert item["image"].shape == (3, 32, 16) and item["image"].dtype == torch.float32
    assert (item["pid"], item["camid"], item["colour"], item["type"], item["index"]) == (1, 1, 0, 3, 2)
    batch = collate_batch([dataset[i] for i in range(4)])
    assert set(batch) == {"images", "pids", "camids", "colours", "types", "indices"}
    assert batch["images"].shape == (4, 3, 32, 16) and batch["images"].dtype == torch.float32
    for key in ("pids", "camids", "colours", "types", "indices"):
        assert batch[key].shape == (4,) and batch[key].dtype == torch.int64
    assert batch["pids"].tolist() == [0, 0, 1, 1] and batch["indices"].tolist() == [0, 1, 2, 3]
    assert batch["colours"].tolist() == [2, 2, 0, 0]


# ---------------------------------------------------------------- P x K sampler

PIDS = [0] * 5 + [1] * 4 + [2] * 1 + [3] * 6 + [4] * 2 + [5] * 3  # identity 2 has one image


def test_sampler_batches_are_p_identities_times_k_images() -> None:
    sampler = IdentityBatchSampler(PIDS, identities_per_batch=3, images_per_identity=2, seed=0)
    batches = list(sampler)
    assert len(batches) > 0
    for batch in batches:
        assert len(batch) == 6
        counts = Counter(PIDS[i] for i in batch)
        assert len(counts) == 3 and set(counts.values()) == {2}
        assert [PIDS[i] for i in batch[::2]] == [PIDS[i] for i in batch[1::2]]  # K images side by side

    # the one-image identity (index 9) is kept: drawn K times with replacement when it comes up
    later = [batch for _ in range(5) for batch in sampler]
    with_single = [[i for i in batch if PIDS[i] == 2] for batch in batches + later]
    assert [9, 9] in with_single
    assert all(indices in ([], [9, 9]) for indices in with_single)


def test_sampler_length_is_the_number_of_full_batches_of_the_epoch() -> None:
    sampler = IdentityBatchSampler(PIDS, identities_per_batch=2, images_per_identity=2, seed=3)
    for _ in range(3):
        expected = len(sampler)
        assert len(list(sampler)) == expected
    # groups of K per epoch: 2 + 2 + 1 + 3 + 1 + 1 = 10 -> at most 5 batches of 2 identities
    assert 1 <= len(sampler) <= 5
    one_per_batch = IdentityBatchSampler(PIDS, identities_per_batch=1, images_per_identity=2, seed=0)
    assert len(one_per_batch) == 10


def test_sampler_is_deterministic_under_a_seed_and_advances_per_epoch() -> None:
    first = IdentityBatchSampler(PIDS, identities_per_batch=2, images_per_identity=2, seed=7)
    second = IdentityBatchSampler(PIDS, identities_per_batch=2, images_per_identity=2, seed=7)
    other = IdentityBatchSampler(PIDS, identities_per_batch=2, images_per_identity=2, seed=8)
    torch.manual_seed(0)
    np.random.seed(0)
    epoch0 = list(first)
    torch.manual_seed(1)
    np.random.seed(1)
    assert list(second) == epoch0  # global random state plays no part
    assert list(other) != epoch0
    assert first.epoch == 1
    epoch1 = list(first)
    assert epoch1 != epoch0
    first.set_epoch(0)
    assert list(first) == epoch0


def test_sampler_rejects_invalid_arguments() -> None:
    with pytest.raises(ValueError, match=r"identities_per_batch \(P\) must be an integer >= 1, got 0"):
        IdentityBatchSampler(PIDS, identities_per_batch=0, images_per_identity=4)
    with pytest.raises(ValueError, match=r"images_per_identity \(K\) must be an integer >= 1, got 0"):
        IdentityBatchSampler(PIDS, identities_per_batch=2, images_per_identity=0)
    with pytest.raises(ValueError, match=r"must be at most the number of identities, 6, got 7"):
        IdentityBatchSampler(PIDS, identities_per_batch=7, images_per_identity=2)


def test_loader_with_sampler_gives_pk_batches(tmp_path: Path) -> None:
    splits = load_dataset("veri776", make_veri(tmp_path))
    dataset = ReidImageDataset(splits.train, train_transforms((24, 24)))
    sampler = IdentityBatchSampler(
        [s.pid for s in splits.train], identities_per_batch=2, images_per_identity=2
    )
    torch.manual_seed(0)
    batches = list(DataLoader(dataset, batch_sampler=sampler, collate_fn=collate_batch))
    assert len(batches) == 1
    assert batches[0]["images"].shape == (4, 3, 24, 24)
    assert sorted(batches[0]["pids"].tolist()) == [0, 0, 1, 1]


# ---------------------------------------------------------------- transforms


def asymmetric_image() -> torch.Tensor:
    image = torch.zeros(3, 20, 30, dtype=torch.uint8)
    image[:, :, :10] = 255
    image[1, 5:15, 12:20] = 90
    return image


def test_train_transforms_output_shape_and_dtype() -> None:
    torch.manual_seed(0)
    out = train_transforms((16, 12), colour_jitter=0.3)(asymmetric_image())
    assert out.shape == (3, 16, 12) and out.dtype == torch.float32


def test_flip_happens_with_p1_and_not_with_p0() -> None:
    image = asymmetric_image()
    plain = reid_transforms.test_transforms((20, 30))(image)
    flipped = train_transforms((20, 30), flip_p=1.0, padding=0, erasing_p=0.0)(image)
    kept = train_transforms((20, 30), flip_p=0.0, padding=0, erasing_p=0.0)(image)
    torch.testing.assert_close(flipped, plain.flip(-1))
    torch.testing.assert_close(kept, plain)
    assert not torch.equal(plain, plain.flip(-1))


def test_random_erasing_happens_with_p1_and_not_with_p0() -> None:
    image = torch.full((3, 24, 24), 200, dtype=torch.uint8)  # normalised: no channel is 0
    torch.manual_seed(0)
    for _ in range(5):
        erased = train_transforms((24, 24), flip_p=0.0, padding=0, erasing_p=1.0)(image)
        zero = (erased == 0).all(0)
        assert 1 <= zero.sum() <= 0.4 * 24 * 24 + 24  # Zhong et al.: at most 40 % of the image
        rows, cols = zero.nonzero(as_tuple=True)
        assert zero[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1].all()  # one rectangle
        untouched = train_transforms((24, 24), flip_p=0.0, padding=0, erasing_p=0.0)(image)
        assert not (untouched == 0).any()


def test_pad_then_crop_shifts_the_image() -> None:
    image = torch.full((3, 16, 16), 255, dtype=torch.uint8)
    black = ((0 - torch.tensor(IMAGENET_MEAN)) / torch.tensor(IMAGENET_STD))[:, None, None]
    transform = train_transforms((16, 16), flip_p=0.0, padding=10, erasing_p=0.0)
    torch.manual_seed(0)
    padded_fraction = [torch.isclose(transform(image), black).all(0).float().mean().item() for _ in range(20)]
    assert max(padded_fraction) > 0.1  # padding came into view
    assert all(f < 1.0 for f in padded_fraction)  # the crop always keeps part of the image


def test_low_resolution_shrinks_first_so_detail_is_lost_at_the_same_output_size() -> None:
    torch.manual_seed(0)
    image = torch.zeros(3, 64, 64, dtype=torch.uint8)
    image[:, ::2] = 255  # one-pixel stripes: gone once shrunk to a third and resized back
    sharp = train_transforms((64, 64), flip_p=0.0, padding=0, erasing_p=0.0)(image)
    blurred = train_transforms(
        (64, 64), flip_p=0.0, padding=0, erasing_p=0.0, low_resolution_p=1.0, low_resolution_min=0.3
    )(image)
    assert blurred.shape == sharp.shape == (3, 64, 64)
    assert blurred.std() < 0.5 * sharp.std()
    sizes = {tuple(reid_transforms.RandomShrink(0.5)(image).shape[-2:]) for _ in range(20)}
    assert all(32 <= h <= 64 and h == w for h, w in sizes) and len(sizes) > 1


def test_test_transforms_resize_and_normalise_only() -> None:
    image = torch.full((3, 10, 40), 255, dtype=torch.uint8)
    out = reid_transforms.test_transforms((8, 16))(image)
    expected = ((1 - torch.tensor(IMAGENET_MEAN)) / torch.tensor(IMAGENET_STD))[:, None, None].expand(
        3, 8, 16
    )
    torch.testing.assert_close(out, expected)


def test_transform_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match=r"size must be \(height, width\), two integers >= 1, got \(0, 8\)"):
        train_transforms((0, 8))
    with pytest.raises(ValueError, match=r"flip_p must lie in \[0, 1\], got 1.5"):
        train_transforms((8, 8), flip_p=1.5)
    with pytest.raises(ValueError, match=r"erasing_p must lie in \[0, 1\], got -0.1"):
        train_transforms((8, 8), erasing_p=-0.1)
    with pytest.raises(ValueError, match=r"padding must be >= 0 pixels, got -1"):
        train_transforms((8, 8), padding=-1)
    with pytest.raises(ValueError, match=r"colour_jitter must lie in \[0, 1\] \(0: off\), got 2"):
        train_transforms((8, 8), colour_jitter=2)
    with pytest.raises(ValueError, match=r"size must be"):
        reid_transforms.test_transforms((8,))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"low_resolution_min must lie in \(0, 1\], got 0"):
        train_transforms((8, 8), low_resolution_p=0.5, low_resolution_min=0)


def test_colour_jitter_keeps_hue_and_saturation_jitter_is_its_own() -> None:
    """Paint is identity: brightness and contrast may change, hue may not; saturation has its own knob."""
    image = torch.zeros(3, 16, 16, dtype=torch.uint8)
    image[0], image[1], image[2] = 200, 60, 30  # a red-orange car body, RGB

    def hue_saturation(out: torch.Tensor) -> tuple[float, float]:
        pixels = out * torch.tensor(IMAGENET_STD)[:, None, None] + torch.tensor(IMAGENET_MEAN)[:, None, None]
        rgb = (pixels.clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()
        hsv = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2HSV_FULL).reshape(-1, 3).astype(float)
        return float(hsv[:, 0].mean()), float(hsv[:, 1].mean())

    plain = hue_saturation(reid_transforms.test_transforms((16, 16))(image))
    kept, turned = [], []
    for seed in range(8):
        torch.manual_seed(seed)
        kept.append(hue_saturation(train_transforms((16, 16), flip_p=0, padding=0, erasing_p=0, colour_jitter=0.5)(image)))
        torch.manual_seed(seed)
        turned.append(hue_saturation(train_transforms((16, 16), flip_p=0, padding=0, erasing_p=0, saturation_jitter=0.5)(image)))
    assert all(abs(h - plain[0]) <= 3 for h, _ in kept)  # hue in 0..255 units: a rounding step or two
    assert max(abs(s - plain[1]) for _, s in turned) > 20
    with pytest.raises(ValueError, match=r"saturation_jitter must lie in \[0, 1\]"):
        train_transforms((8, 8), saturation_jitter=1.5)


def test_cross_validation_folds_deal_whole_vehicles_evenly_by_type(data_dir) -> None:
    from mtmc.reid.data.datasets.two_camera import cross_validation_folds

    root = data_dir / "vehicle-reid-2cam"
    folds = cross_validation_folds(root, folds=5, seed=0)
    names = [n for fold in folds for n in fold]
    assert len(names) == len(set(names)) == 1014  # every image of train.txt and val.txt, once

    def vehicle(name: str) -> str:
        return name.rsplit("_", 1)[0]

    homes = {}
    for k, fold in enumerate(folds):
        for name in fold:
            assert homes.setdefault(vehicle(name), k) == k  # both views of a vehicle in one fold
    for kind in ("motorcycle", "car"):
        counts = [len({vehicle(n) for n in fold if n.startswith(kind)}) for fold in folds]
        assert max(counts) - min(counts) <= 1, (kind, counts)
    assert cross_validation_folds(root, folds=5, seed=0) == folds
    assert cross_validation_folds(root, folds=5, seed=1) != folds
    with pytest.raises(MtmcError, match="at least 2 folds"):
        cross_validation_folds(root, folds=1)


def test_the_shipped_embedder_trains_the_cross_validated_recipe_on_every_vehicle() -> None:
    """The two files differ only in what is trained on, evaluation and where checkpoints go."""
    from mtmc.reid.config import load_experiment

    folder = Path(__file__).resolve().parents[1] / "configs" / "reid"
    chosen, final = (load_experiment(folder / name) for name in ("glamor-mobilenetv2-2cam.yaml", "glamor-mobilenetv2-2cam-all.yaml"))
    ignore = {"output_dir": True, "eval_every": True, "data": {"options": True}}
    assert chosen.model_dump(exclude=ignore) == final.model_dump(exclude=ignore)
    assert final.data.options == {"train": ["train.txt", "val.txt"], "test_list": None} and final.eval_every == 0
