"""Camera names, their AI City numbers, cameras: as folders and globs of videos, cameras.csv."""

from __future__ import annotations

import csv
import random
from pathlib import Path

import pytest

from mtmc.config import CameraConfig, MtmcConfig, load_config
from mtmc.errors import MtmcError


def write(folder: Path, text: str) -> Path:
    path = folder / "city.yaml"
    path.write_text(text)
    return path


def videos(folder: Path, *names: str) -> Path:
    """Empty files standing for videos (nothing here decodes them)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / name).write_bytes(b"")
    return folder


def numbers(config: MtmcConfig) -> dict[str, int]:
    return {c.id: c.number for c in config.cameras}


def cams(*entries) -> MtmcConfig:
    return MtmcConfig(cameras=[{"source": "x.mp4", **e} if isinstance(e, dict) else {"id": e, "source": "x.mp4"}
                               for e in entries])  # fmt: skip


# --- names ---


@pytest.mark.parametrize("name", ["north-gate", "south_1", "c001", "001", "A", "9lives", "x" * 64])
def test_free_camera_names(name):
    assert cams(name).cameras[0].id == name


@pytest.mark.parametrize("name", ["north gate", "-north", "_x", "", "caméra", "a/b", "a.b", "x" * 65])
def test_bad_camera_name_is_one_line_naming_the_rule(tmp_path, name):
    with pytest.raises(MtmcError) as info:
        load_config(write(tmp_path, f"cameras: [{{id: '{name}', source: a.mp4}}]\n"))
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"{tmp_path / 'city.yaml'}: cameras.0.id: a camera name is 1-64 letters, digits")
    assert "starting with a letter or digit" in message and f"(got '{name}')" in message


# --- numbers ---


def test_aicity_ids_keep_their_numbers():
    assert numbers(cams("c001", "c007", "012", "c0003")) == {"c001": 1, "c007": 7, "012": 12, "c0003": 3}


def test_other_names_take_the_lowest_free_numbers_in_name_order():
    config = cams("south", "c002", "north", "cam10", "cam2", {"id": "east", "number": 1})
    assert numbers(config) == {"east": 1, "c002": 2, "cam2": 3, "cam10": 4, "north": 5, "south": 6}


def test_numbers_do_not_depend_on_the_order_of_the_list():
    entries = ["north-gate", "south_1", "c003", "Bridge", "cam9", "cam10", {"id": "depot", "number": 2}]
    expected = numbers(cams(*entries))
    rng = random.Random(0)
    for _ in range(20):
        rng.shuffle(entries)
        assert numbers(cams(*entries)) == expected
    assert expected == {"Bridge": 1, "depot": 2, "c003": 3, "cam9": 4, "cam10": 5, "north-gate": 6, "south_1": 7}


def test_an_explicit_number_wins_even_over_a_cnnn_name():
    assert numbers(cams({"id": "c001", "number": 5}, "north")) == {"c001": 5, "north": 1}


def test_c000_is_a_name_without_a_number_of_its_own():
    assert numbers(cams("c000", "c001")) == {"c000": 2, "c001": 1}


def test_a_lone_camera_config_knows_an_aicity_number():
    assert CameraConfig(id="c012", source="a.mp4").number == 12
    assert CameraConfig(id="north", source="a.mp4").number is None  # given by the list it is in


@pytest.mark.parametrize(
    "text, expected",
    [
        ("[{id: a, source: a.mp4}, {id: a, source: b.mp4}]", "two cameras named 'a': camera names must be unique"),
        ("[{id: gate, source: a.mp4}, {id: Gate, source: b.mp4}]", "cameras named 'gate' and 'Gate': camera names must"),
        ("[{id: c001, source: a.mp4}, {id: '001', source: b.mp4}]", "cameras 'c001' and '001' both have AI City number 1"),
        ("[{id: a, source: a.mp4, number: 3}, {id: c003, source: b.mp4}]", "cameras 'a' and 'c003' both have AI City number 3"),
        ("[{id: a, source: a.mp4, number: 2}, {id: b, source: b.mp4, number: 2}]", "'a' and 'b' both have AI City number 2"),
        ("[{id: a, source: a.mp4, number: 0}]", r"cameras.0.number: Input should be greater than or equal to 1 \(got 0\)"),
    ],
)
def test_duplicate_names_or_numbers_are_one_clear_error(tmp_path, text, expected):
    with pytest.raises(MtmcError, match=expected) as info:
        load_config(write(tmp_path, f"cameras: {text}\n"))
    assert "\n" not in str(info.value) and "CameraConfig(" not in str(info.value)


# --- folders and globs ---


def test_a_folder_is_one_camera_per_video_named_by_its_stem(tmp_path):
    folder = videos(tmp_path / "videos", "north-gate.mp4", "south_1.MOV", "east.mkv", "notes.txt", ".hidden.mp4", "._west.mp4")
    (folder / "sub").mkdir()
    videos(folder / "sub", "deeper.mp4")
    config = load_config(write(tmp_path, "cameras: videos/\n"))
    assert [(c.id, c.number, Path(c.source).name) for c in config.cameras] == [
        ("east", 1, "east.mkv"), ("north-gate", 2, "north-gate.mp4"), ("south_1", 3, "south_1.MOV")
    ]
    assert all(Path(c.source).is_absolute() and Path(c.source).parent == folder for c in config.cameras)


@pytest.mark.parametrize("suffix", [".mp4", ".avi", ".mkv", ".mov", ".m4v", ".mpg", ".mpeg", ".ts", ".webm", ".wmv"])
def test_every_common_video_suffix_any_case(tmp_path, suffix):
    videos(tmp_path / "v", f"a{suffix}", f"b{suffix.upper()}")
    assert [c.id for c in load_config(write(tmp_path, "cameras: v\n")).cameras] == ["a", "b"]


def test_a_glob_relative_to_the_config_file(tmp_path, monkeypatch):
    videos(tmp_path / "videos", "north.mp4", "south.mp4", "south.avi")
    monkeypatch.chdir("/")
    config = load_config(write(tmp_path, 'cameras: "videos/*.mp4"\n'))
    assert [(c.id, c.source) for c in config.cameras] == [
        ("north", str(tmp_path / "videos" / "north.mp4")), ("south", str(tmp_path / "videos" / "south.mp4"))
    ]
    recursive = load_config(write(tmp_path, 'cameras: "**/n*.mp4"\n'))
    assert [c.id for c in recursive.cameras] == ["north"]


def test_a_list_mixing_folders_and_entries_overrides_by_name(tmp_path):
    videos(tmp_path / "videos", "c001.mp4", "north-gate.mp4", "south_1.mp4")
    (tmp_path / "cal.txt").write_text("")
    text = (
        "cameras:\n"
        "  - videos/\n"
        "  - {id: north-gate, fps: 5, offset_s: 1.5, calibration: cal.txt, number: 9}\n"
        "  - {id: south_1, source: other.mp4}\n"
        "  - {id: live, source: 'rtsp://cam.local/stream'}\n"
    )
    config = load_config(write(tmp_path, text))
    by_id = {c.id: c for c in config.cameras}
    assert list(by_id) == ["c001", "north-gate", "south_1", "live"]
    gate = by_id["north-gate"]
    assert (gate.fps, gate.offset_s, gate.number, gate.calibration) == (5, 1.5, 9, tmp_path / "cal.txt")
    assert gate.source == str(tmp_path / "videos" / "north-gate.mp4")
    assert by_id["south_1"].source == str(tmp_path / "other.mp4")  # an explicit source wins
    assert numbers(config) == {"c001": 1, "north-gate": 9, "south_1": 3, "live": 2}


def test_an_entry_naming_a_file_by_source_gives_it_its_name(tmp_path):
    videos(tmp_path / "videos", "Gate 3 (north).mp4", "yard.mp4")
    text = "cameras: [videos/, {id: gate-3, source: 'videos/Gate 3 (north).mp4'}]\n"
    config = load_config(write(tmp_path, text))
    assert sorted(c.id for c in config.cameras) == ["gate-3", "yard"]


def test_the_same_file_twice_is_one_camera(tmp_path):
    videos(tmp_path / "videos", "a.mp4", "b.mp4")
    config = load_config(write(tmp_path, 'cameras: [videos/, "videos/*.mp4", videos/a.mp4]\n'))
    assert [c.id for c in config.cameras] == ["a", "b"]


def test_a_programmatic_folder_is_taken_from_the_working_directory(tmp_path, monkeypatch):
    videos(tmp_path / "videos", "a.mp4")
    monkeypatch.chdir(tmp_path)
    assert [c.source for c in MtmcConfig(cameras="videos").cameras] == [str(tmp_path / "videos" / "a.mp4")]


def test_explicit_lists_are_untouched(tmp_path):
    config = load_config(write(tmp_path, "cameras: [{id: c001, source: a.mp4}]\n"))
    assert config.cameras[0].source == str(tmp_path / "a.mp4")


@pytest.mark.parametrize(
    "setup, text, expected",
    [
        (lambda d: videos(d / "videos", "notes.txt"), "videos/",
         r"cameras: folder .*videos holds no video files \(looked for \.mp4 .*\.wmv\): put the videos there"),
        (lambda d: videos(d / "videos", "a.txt"), '"videos/*.mp4"', r"cameras: 'videos/\*\.mp4' matches no video files"),
        (lambda d: None, "nowhere/", r"cameras: folder not found: .*nowhere \(cameras: 'nowhere/' is taken from the config"),
        (lambda d: videos(d / "a", "x.mp4") and videos(d / "b", "x.avi"), "[a/, b/]",
         r"two video files would both be camera 'x': .*a/x\.mp4 and .*b/x\.avi: rename one, or give one an explicit"),
        (lambda d: videos(d / "v", "x.mp4", "x.avi"), "v/", r"would both be camera 'x': .*v/x\.avi and .*v/x\.mp4"),
        (lambda d: videos(d / "v", "my clip.mp4"), "v/",
         r"video file .*v/my clip\.mp4: its name 'my clip' is not a camera name \(1-64 letters.*\): rename the file, "
         r"or give it an explicit entry in cameras: \{id: NAME, source: .*my clip\.mp4\}"),
        (lambda d: videos(d / "v", "a.mp4"), "[v/, {id: b, fps: 5}]", r"camera 'b' has no source: and no video file"),
        (lambda d: videos(d, "notes.txt"), "notes.txt", r"notes\.txt is not a video file"),
    ],
    ids=["folder-without-videos", "glob-without-videos", "no-such-folder", "same-stem-two-folders",
         "same-stem-one-folder", "stem-not-a-name", "entry-without-source", "not-a-video"],  # fmt: skip
)
def test_folder_errors_are_one_line_naming_the_thing_and_the_fix(tmp_path, setup, text, expected):
    setup(tmp_path)
    with pytest.raises(MtmcError, match=expected) as info:
        load_config(write(tmp_path, f"cameras: {text}\n"))
    message = str(info.value)
    assert "\n" not in message and "(got" not in message
    assert message.startswith(f"{tmp_path / 'city.yaml'}: cameras: ")


def test_a_scenario_still_brings_its_cameras(tmp_path):
    from mtmc.runtime.scenario import with_scenario

    for name in ("c002", "c001"):
        videos(tmp_path / "S01" / name, "vdo.mp4")
    config = with_scenario(load_config(write(tmp_path, "scenario: S01\n")))
    assert numbers(config) == {"c001": 1, "c002": 2}
    with pytest.raises(MtmcError, match="give cameras: or scenario:, not both"):
        videos(tmp_path / "videos", "a.mp4")
        with_scenario(load_config(write(tmp_path, "scenario: S01\ncameras: videos/\n")))


# --- topology, learnt links, cameras.csv ---


def test_topology_links_name_cameras_and_reach_the_gates_by_number(tmp_path):
    from mtmc.runtime.matcher import topology_of

    text = (
        "cameras: [{id: north-gate, source: a.mp4}, {id: south_1, source: b.mp4}, {id: c001, source: c.mp4}]\n"
        "topology: {links: [{from: north-gate, to: south_1, min_s: 1, max_s: 9}, {from: c001, to: c009, min_s: 0, max_s: 5}]}\n"
    )
    config = load_config(write(tmp_path, text))
    assert numbers(config) == {"c001": 1, "north-gate": 2, "south_1": 3}
    links = topology_of(config).links
    assert [(link.from_, link.to) for link in links] == [("c002", "c003")]  # c009 is not in the run: gates nothing
    typo = config.model_copy(update={"topology": config.topology.model_copy(update={"links": [
        config.topology.links[0].model_copy(update={"to": "south-1"})]})})  # fmt: skip
    with pytest.raises(MtmcError, match="topology link north-gate -> south-1: no camera named south-1"):
        topology_of(typo)
    assert topology_of(typo, strict=False).links == []


def test_learnt_links_name_cameras():
    import numpy as np

    from mtmc.match.config import NetworkConfig
    from mtmc.match.network import NetworkLearner

    learner = NetworkLearner(NetworkConfig(min_pairs=1), 60.0, names={2: "north-gate"})
    learner.negatives = [1000, 0]
    learner.opportunities[(2, 5)] = np.zeros(61, np.int64)
    learner.travel[(2, 5)].extend([10.0, 10.5, 11.0])
    learner.together[(2, 5)] = [20, 6]
    [link] = learner.links()
    assert (link["from"], link["to"]) == ("north-gate", "c005")
    [overlap] = learner.overlaps()
    assert overlap["cameras"] == ["north-gate", "c005"] and overlap["observations"] == 6

    # the dashboard reads the same network from the learner and from topology.learnt.yaml
    from mtmc.dashboard.sightings import network_of

    live = network_of({"links": learner.links(), "overlaps": learner.overlaps()})
    written = network_of(learner.named())
    assert live == written and live["overlaps"] == [{"cameras": ["c005", "north-gate"], "observations": 6, "expected": overlap["expected"]}]


def test_cameras_csv_maps_numbers_to_names(tmp_path):
    from mtmc.camera_names import write_cameras_csv

    config = cams({"id": "south_1", "source": "/v/s.mp4"}, {"id": "north-gate", "source": "/v/n.mp4"},
                  {"id": "c001", "source": "rtsp://cam/1"})  # fmt: skip
    path = write_cameras_csv(tmp_path / "out" / "cameras.csv", config.cameras)
    assert path.read_text() == "name,number,source\nc001,1,rtsp://cam/1\nnorth-gate,2,/v/n.mp4\nsouth_1,3,/v/s.mp4\n"
    assert list(csv.DictReader(path.open()))[1] == {"name": "north-gate", "number": "2", "source": "/v/n.mp4"}
    assert [p.name for p in path.parent.iterdir()] == ["cameras.csv"]  # no partial file left


def test_the_matcher_writes_cameras_csv_once_it_holds_its_ports(tmp_path, free_port):
    from mtmc.runtime.matcher import MatcherService

    config = cams("north-gate", "south_1").model_copy(
        update={"matcher": MtmcConfig().matcher.model_copy(
            update={"bind": f"tcp://127.0.0.1:{free_port}", "publish": None, "dashboard": None})}
    )  # fmt: skip
    service = MatcherService(config, tmp_path / "out", fresh=True)
    service.stop("finish")
    service.serve()
    rows = list(csv.DictReader((tmp_path / "out" / "cameras.csv").open()))
    assert [(r["name"], r["number"]) for r in rows] == [("north-gate", "1"), ("south_1", "2")]


def test_two_entries_for_one_file_are_an_error(tmp_path):
    videos(tmp_path / "v", "a.mp4")
    with pytest.raises(MtmcError, match=r"cameras: two entries in cameras: for camera 'a' \(the video .*a\.mp4\): merge"):
        load_config(write(tmp_path, "cameras: [v/, {id: a, fps: 5}, {id: a, offset_s: 1}]\n"))
