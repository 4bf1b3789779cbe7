"""Issue 34, points 4 and 6: what `mtmc run` checks and says before it starts (sources, ports, the
dashboard's address), what it leaves after (outboxes, logs, cameras.csv), the annotated videos'
overlays and the name `mtmc track` gives its camera. Stand-in processes and tiny inputs: seconds."""

from __future__ import annotations

import socket
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from mtmc.cli import main
from mtmc.config import CameraConfig, MtmcConfig
from mtmc.errors import MtmcError
from mtmc.runtime.config import MatcherServiceConfig
from mtmc.runtime.ports import settle_ports, with_base_port
from mtmc.runtime.supervisor import Supervisor

from helpers import tiny_video

READY = 'import sys; print(\'{"dashboard": "http://127.0.0.1:1/"}\', flush=True)'


def _run_config(tmp_path: Path, source: str) -> Path:
    tiny_video(tmp_path / "good.mp4")
    config = tmp_path / "city.yaml"
    config.write_text(
        f"cameras:\n  - {{id: north, source: good.mp4}}\n  - {{id: south, source: '{source}'}}\noutput: {{dir: out}}\n"
    )
    return config


def _images(folder: Path, data: bytes) -> str:
    folder.mkdir()
    (folder / "000001.jpg").write_bytes(data)
    return folder.name


@pytest.mark.parametrize(
    "make, says",
    [
        (
            lambda d: (d / "text.mp4").write_text("this is a text file\n") and "text.mp4",
            "cannot open video {d}/text.mp4: not a video, or a codec OpenCV lacks",
        ),
        (
            lambda d: (d / "empty.mp4").write_bytes(b"") or "empty.mp4",
            "cannot open video {d}/empty.mp4: not a video, or a codec OpenCV lacks",
        ),
        (
            lambda d: "nowhere.mp4",
            "source not found: {d}/nowhere.mp4 (a video file or image folder; relative paths are read from the "
            "config's folder)",
        ),
        (
            lambda d: _images(d / "frames", b"garbage"),
            "no image in {d}/frames could be read (1 corrupt or not images)",
        ),
    ],
    ids=["text-file", "empty-file", "missing", "folder-of-garbage"],
)
def test_a_bad_source_is_one_line_before_anything_starts_or_is_made(tmp_path, capsys, make, says) -> None:
    config = _run_config(tmp_path, make(tmp_path))
    started = time.monotonic()
    assert main(["run", str(config), "-q"]) == 2
    assert time.monotonic() - started < 5  # no model loaded, no process started
    err = capsys.readouterr().err.strip()
    assert err == f"mtmc run: error: {config}: camera south: {says.format(d=tmp_path)}"
    assert not (tmp_path / "out").exists()


def test_port_base_moves_the_three_ports_and_keeps_their_hosts() -> None:
    settings = MatcherServiceConfig(bind="tcp://0.0.0.0:5555", publish="tcp://*:5556", dashboard=8765)
    moved = with_base_port(settings, 6000)
    assert (moved.bind, moved.publish, moved.dashboard) == ("tcp://0.0.0.0:6000", "tcp://*:6001", 6002)
    off = with_base_port(MatcherServiceConfig(publish=None, dashboard=None), 6000)
    assert (off.bind, off.publish, off.dashboard) == ("tcp://127.0.0.1:6000", None, None)  # off stays off
    with pytest.raises(MtmcError, match=r"^--port 65534: give a port from 1 to 65533"):
        with_base_port(settings, 65534)
    with pytest.raises(MtmcError, match=r"^--port 6000: matcher.bind ipc:///tmp/m has no TCP port to set"):
        with_base_port(MatcherServiceConfig(bind="ipc:///tmp/m"), 6000)


@pytest.fixture
def taken() -> int:
    """A loopback port another process listens on."""
    with socket.socket() as squatter:
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        yield squatter.getsockname()[1]


@pytest.mark.parametrize("key", ["bind", "publish", "dashboard"])
def test_a_taken_default_port_moves_and_a_chosen_one_is_an_error_naming_its_key(
    taken, free_port, key
) -> None:
    value = taken if key == "dashboard" else f"tcp://127.0.0.1:{taken}"
    settings = MatcherServiceConfig(
        **{"bind": f"tcp://127.0.0.1:{free_port}", "publish": None, "dashboard": None, key: value}
    )
    moved, said = settle_ports(settings, "127.0.0.1", set(), lambda k: "fix")
    [move] = said
    now = getattr(moved, key)
    assert move.key == key and move.now.endswith(f":{now if key == 'dashboard' else now.rsplit(':', 1)[1]}")
    assert now != value and str(taken) in move.was
    with socket.socket() as probe:  # the port it took is free
        probe.bind(("127.0.0.1", now if key == "dashboard" else int(now.rsplit(":", 1)[1])))
    shown = f"http://127.0.0.1:{taken}" if key == "dashboard" else value
    with pytest.raises(MtmcError) as error:
        settle_ports(settings, "127.0.0.1", {key}, lambda k: f"stop that process, or set matcher.{k}")
    assert str(error.value) == (
        f"matcher.{key} {shown} is already in use (another run?): stop that process, or set matcher.{key}"
    )


def test_mtmc_run_says_which_port_it_took_and_refuses_a_taken_port_it_was_given(
    tmp_path, taken, capsys
) -> None:
    config = _run_config(tmp_path, "good.mp4")
    config.write_text(config.read_text().replace("south, source: 'good.mp4'", "south, source: good.mp4"))
    assert (
        main(["run", str(config), "-q", "--port", str(taken - 2)]) == 2
    )  # its dashboard lands on the taken port
    assert capsys.readouterr().err.strip() == (
        f"mtmc run: error: matcher.dashboard http://127.0.0.1:{taken} is already in use (another run?): "
        "stop that process, or give another --port BASE"
    )
    assert not (tmp_path / "out").exists()
    config.write_text(config.read_text() + f"matcher: {{publish: 'tcp://127.0.0.1:{taken}'}}\n")
    assert main(["run", str(config), "-q"]) == 2
    assert capsys.readouterr().err.strip() == (
        f"mtmc run: error: matcher.publish tcp://127.0.0.1:{taken} is already in use (another run?): stop that "
        f"process, set another port as matcher.publish in {config}, or give --port BASE"
    )
    from mtmc.commands.run import _settle_ports

    config = MtmcConfig(
        cameras=[CameraConfig(id="north", source="a.mp4")],
        matcher={"bind": f"tcp://127.0.0.1:{taken}", "publish": None, "dashboard": None},
    )
    config.matcher.__pydantic_fields_set__.discard("bind")  # as if the config left it at its default
    settled, said = _settle_ports(Path("city.yaml"), config, None)
    moved = settled.matcher.bind
    assert moved != f"tcp://127.0.0.1:{taken}"
    assert said == [
        f"mtmc run: matcher.bind tcp://127.0.0.1:{taken} is taken (another run?): using {moved} instead (--port BASE chooses)"
    ]


def _supervisor(tmp_path: Path, resume: bool = False, **kwargs) -> Supervisor:
    config = MtmcConfig(
        cameras=[CameraConfig(id="north", source="a.mp4"), CameraConfig(id="south", source="b.mp4")],
        matcher={"bind": "tcp://127.0.0.1:6100", "publish": "tcp://127.0.0.1:6101", "dashboard": 6102},
    )
    supervisor = Supervisor(tmp_path / "city.yaml", config, tmp_path / "out", resume=resume, **kwargs)
    supervisor.matcher.command = lambda extra: [sys.executable, "-c", READY]
    for worker in supervisor.workers.values():
        worker.command = lambda extra: [sys.executable, "-c", "pass"]
    return supervisor


def test_the_dashboard_is_said_once_the_matcher_is_up_and_before_any_camera_starts(tmp_path) -> None:
    seen = []

    def ready(supervisor: Supervisor) -> None:
        seen.append((supervisor.dashboard, [w.process for w in supervisor.workers.values()]))

    supervisor = _supervisor(tmp_path, on_ready=ready)
    args = supervisor.matcher.args  # the matcher is handed the ports the run settled on
    assert args[args.index("--bind") + 1] == "tcp://127.0.0.1:6100"
    assert (
        args[args.index("--publish") + 1] == "tcp://127.0.0.1:6101"
        and args[args.index("--dashboard") + 1] == "6102"
    )
    assert supervisor.run() == {"north": "done", "south": "done"}
    assert seen == [("http://127.0.0.1:1/", [None, None])]


def test_a_new_run_moves_the_last_runs_logs_aside_and_a_resumed_run_keeps_them(tmp_path) -> None:
    logs = tmp_path / "out" / "logs"
    logs.mkdir(parents=True)
    (logs / "matcher.log").write_text("the failed run before\n")
    (logs / "south.log").write_text("south before\n")
    _supervisor(tmp_path).run()
    assert (logs / "previous" / "matcher.log").read_text() == "the failed run before\n"
    assert (logs / "previous" / "south.log").read_text() == "south before\n"
    assert (logs / "matcher.log").read_text() == "" and (logs / "south.log").read_text() == ""
    (logs / "matcher.log").write_text("interrupted\n")
    _supervisor(tmp_path, resume=True).run()
    assert (logs / "matcher.log").read_text() == "interrupted\n"  # the same run goes on
    _supervisor(tmp_path).run()
    assert (logs / "previous" / "matcher.log").read_text() == "interrupted\n"  # one run back only
    assert sorted(p.name for p in (logs / "previous").iterdir()) == ["matcher.log", "north.log", "south.log"]


def test_cameras_csv_names_file_sources_absolutely(tmp_path, monkeypatch) -> None:
    from mtmc.camera_names import cameras_csv

    monkeypatch.chdir(tmp_path)
    cameras = [CameraConfig(id="c001", source="videos/a.mp4"), CameraConfig(id="c002", source="rtsp://cam/x")]
    assert cameras_csv(cameras).splitlines() == [
        "name,number,source",
        f"c001,1,{tmp_path / 'videos' / 'a.mp4'}",
        "c002,2,rtsp://cam/x",
    ]


def test_mtmc_track_names_its_camera_after_the_source(tmp_path, monkeypatch) -> None:
    import mtmc.camera
    from mtmc.camera_names import name_of_source

    for folder in ("street-7", "MOT17-04/img1", "S01/c005/x", "Gate 3"):
        (tmp_path / folder).mkdir(parents=True)
    assert name_of_source(str(tmp_path / "north-gate.mp4")) == "north-gate"
    assert name_of_source(str(tmp_path / "street-7")) == "street-7"
    assert name_of_source(str(tmp_path / "MOT17-04" / "img1")) == "MOT17-04"
    assert name_of_source(str(tmp_path / "S01" / "c005" / "vdo.avi")) == "c005"
    assert name_of_source(str(tmp_path / "Gate 3")) == "c001"  # not a camera name
    assert name_of_source("rtsp://cam.local/stream") == "c001"
    seen = []

    def built(camera, *args, **kwargs):
        seen.append((camera.id, camera.number))
        raise MtmcError("stop here")

    monkeypatch.setattr(mtmc.camera.CameraPipeline, "from_config", built)
    video = tiny_video(tmp_path / "north-gate.mp4")
    for source in (video, tmp_path / "c005.mp4"):
        tiny_video(source)
        assert main(["track", str(source), "-o", str(tmp_path / "t.txt"), "--detections", "x.txt", "-q"]) == 2
    assert seen == [("north-gate", 1), ("c005", 5)]


def _tracks(*rows: tuple) -> np.ndarray:
    return np.array(rows, np.float32).reshape(-1, 8)


def test_the_title_is_on_a_dark_band_and_a_trail_is_not_drawn_across_a_jump(tmp_path) -> None:
    from mtmc.outputs import VideoAnnotator
    from mtmc.outputs.annotate import trail_pieces

    annotator = VideoAnnotator(tmp_path / "v.mp4", fps=10, label="north-gate")
    white = np.full((240, 320, 3), 255, np.uint8)
    for frame, x in ((1, 20), (2, 24), (3, 28), (4, 260)):  # id 4 jumps across the frame at frame 4
        drawn = annotator.add(white, _tracks((x, 150, x + 30, 180, 4, 0.9, 2, 0)), frame)
    annotator.close()
    assert drawn[2:8, 2:60].mean() < 100  # the band behind the title: dark on a white frame
    assert (drawn[40:, 80:240] == 255).all()  # below the title, nothing between the old place and the new
    assert (drawn[150:, 20:60] != 255).any()  # the trail before the jump and the box are drawn
    assert trail_pieces([(1, 0, 0, 10), (2, 5, 0, 10), (4, 8, 0, 10), (5, 40, 0, 10)]) == [
        [(0, 0), (5, 0)],
        [(8, 0)],
        [(40, 0)],
    ]


def test_the_matcher_names_the_key_of_a_taken_port_and_keeps_the_run_it_found(
    tmp_path, taken, free_port
) -> None:
    """Where mtmc run did not try the ports (a Ray node, a race, mtmc matcher by hand)."""
    from mtmc.runtime.matcher import MatcherService

    from helpers import synthetic_embedder

    config = MtmcConfig(
        cameras=[CameraConfig(id="c001", source="x.mp4")],
        matcher={
            "bind": f"tcp://127.0.0.1:{free_port}",
            "publish": f"tcp://127.0.0.1:{taken}",
            "dashboard": None,
        },
        embedder=synthetic_embedder(5),
    )
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "matcher.journal").write_bytes(b"a previous run")
    with pytest.raises(MtmcError) as error:
        MatcherService(config, tmp_path / "out", fresh=True).serve()
    assert str(error.value) == (
        f"matcher.publish tcp://127.0.0.1:{taken} is already in use (another run?): stop that process, or choose "
        "another port (matcher.publish in the config; mtmc run --port BASE)"
    )
    assert (tmp_path / "out" / "matcher.journal").read_bytes() == b"a previous run"
