"""Output paths (issue 18): a file where a folder goes, a folder that cannot be written, ... are one
line and exit 2 before any work starts, for every command that writes; nothing written is lost."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from mtmc.cli import main
from mtmc.errors import MtmcError
from mtmc.outputs.paths import writable_dir, writable_file

from helpers import tiny_video

root_ignores_modes = pytest.mark.skipif(
    hasattr(os, "geteuid") and os.geteuid() == 0, reason="root writes into read-only folders: chmod cannot test it"
)


@pytest.fixture
def blocker(tmp_path) -> Path:
    """A file with contents, where a folder is asked for."""
    path = tmp_path / "results"
    path.write_text("kept\n")
    return path


@pytest.fixture
def read_only(tmp_path):
    folder = tmp_path / "locked"
    folder.mkdir()
    (folder / "old.txt").write_text("kept\n")
    folder.chmod(stat.S_IRUSR | stat.S_IXUSR)
    yield folder
    folder.chmod(stat.S_IRWXU)


def one_line_error(capsys, command: str) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith(f"mtmc {command}: error: ") and "Traceback" not in err[0]
    return err[0].removeprefix(f"mtmc {command}: error: ")


def test_helpers_create_parents_and_keep_what_is_there(tmp_path, blocker):
    assert writable_dir(tmp_path / "a" / "b", "output folder").is_dir()
    assert writable_file(tmp_path / "c" / "d" / "out.txt", "tracks file") == tmp_path / "c" / "d" / "out.txt"
    assert (tmp_path / "c" / "d").is_dir() and not (tmp_path / "c" / "d" / "out.txt").exists()
    assert writable_file(blocker, "tracks file") == blocker  # an existing file is replaced later, by the command
    assert blocker.read_text() == "kept\n"
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["a", "b", "c", "d", "results"]  # no probe left
    with pytest.raises(MtmcError, match=f"^output folder {blocker}: is a file: choose another path$"):
        writable_dir(blocker, "output folder")
    with pytest.raises(MtmcError, match=f"^video {blocker / 'v.mp4'}: {blocker} is a file: choose another path$"):
        writable_file(blocker / "v.mp4", "video")
    with pytest.raises(MtmcError, match=f"^MOT folder {blocker / 'mot'}: {blocker} is a file: choose another path$"):
        writable_dir(blocker / "mot", "MOT folder")
    with pytest.raises(MtmcError, match=r"^scores file .*: is a folder: choose another path \(a file name\)$"):
        writable_file(tmp_path / "a", "scores file")
    assert blocker.read_text() == "kept\n"


@root_ignores_modes
def test_helpers_refuse_a_read_only_folder(read_only):
    with pytest.raises(MtmcError, match=rf"^output folder {read_only}: not writable \(permission denied\): choose another path$"):
        writable_dir(read_only, "output folder")
    with pytest.raises(MtmcError, match=r"^tracks file .*: not writable \(permission denied\)"):
        writable_file(read_only / "new.txt", "tracks file")
    with pytest.raises(MtmcError, match=r"^keys folder .*: not writable \(permission denied\)"):
        writable_dir(read_only / "keys", "keys folder")
    assert (read_only / "old.txt").read_text() == "kept\n"


def run_config(tmp_path: Path, out: Path) -> Path:
    config = tmp_path / "run.yaml"
    tiny_video(tmp_path / "clip.mp4")  # a video, so the output folder is the first thing that fails
    config.write_text(f"cameras:\n  - {{id: c001, source: '{tmp_path / 'clip.mp4'}'}}\noutput: {{dir: '{out}'}}\n")
    return config


def match_config(tmp_path: Path) -> tuple[Path, Path]:
    config = tmp_path / "match.yaml"
    config.write_text("cameras:\n  - {id: c001, fps: 10}\n")
    tracks = tmp_path / "tracks"
    tracks.mkdir()
    return config, tracks


def test_every_command_refuses_a_file_where_it_writes(tmp_path, blocker, capsys):
    assert main(["run", str(run_config(tmp_path, blocker)), "-q"]) == 2
    assert one_line_error(capsys, "run") == f"output folder {blocker}: is a file: choose another path"
    assert main(["run", str(run_config(tmp_path, tmp_path / "ok")), "--out", str(blocker), "-q"]) == 2
    assert one_line_error(capsys, "run") == f"output folder {blocker}: is a file: choose another path"

    config, tracks = match_config(tmp_path)
    assert main(["match", str(config), "--tracks", str(tracks), "-o", str(blocker / "s.txt")]) == 2
    assert one_line_error(capsys, "match") == f"submission file {blocker / 's.txt'}: {blocker} is a file: choose another path"
    args = ["match", str(config), "--tracks", str(tracks), "-o", str(tmp_path / "s.txt"), "--mot-dir", str(blocker)]
    assert main(args) == 2
    assert one_line_error(capsys, "match") == f"MOT folder {blocker}: is a file: choose another path"

    gt = tmp_path / "gt.txt"
    gt.write_text("1,1,0,0,10,10,1,-1,-1,-1\n")
    assert main(["eval", str(gt), str(gt), "--json", str(blocker / "s.json")]) == 2
    assert one_line_error(capsys, "eval") == f"scores file {blocker / 's.json'}: {blocker} is a file: choose another path"
    assert main(["eval", str(gt), str(gt), "--json", str(tmp_path)]) == 2
    assert one_line_error(capsys, "eval") == f"scores file {tmp_path}: is a folder: choose another path (a file name)"

    assert main(["keys", "generate", str(blocker), "--name", "matcher"]) == 2
    assert one_line_error(capsys, "keys") == f"keys folder {blocker}: is a file: choose another path"

    source, tracks_file = str(tmp_path / "none.mp4"), str(tmp_path / "t.txt")
    for what, args in [
        ("tracks file", ["-o", str(blocker / "x")]),
        ("video", ["-o", tracks_file, "--video", str(blocker / "x")]),
        ("JSON lines file", ["-o", tracks_file, "--jsonl", str(blocker / "x")]),
    ]:
        assert main(["track", source, *args, "-q"]) == 2  # before the source is even opened
        assert one_line_error(capsys, "track") == f"{what} {blocker / 'x'}: {blocker} is a file: choose another path"
    assert blocker.read_text() == "kept\n"


@root_ignores_modes
def test_every_command_refuses_a_folder_it_cannot_write(tmp_path, read_only, capsys):
    denied = "not writable (permission denied): choose another path"
    assert main(["run", str(run_config(tmp_path, read_only)), "-q"]) == 2
    assert one_line_error(capsys, "run") == f"output folder {read_only}: {denied}"
    config, tracks = match_config(tmp_path)
    assert main(["match", str(config), "--tracks", str(tracks), "-o", str(read_only / "s.txt")]) == 2
    assert one_line_error(capsys, "match") == f"submission file {read_only / 's.txt'}: {denied}"
    gt = tmp_path / "gt.txt"
    gt.write_text("1,1,0,0,10,10,1,-1,-1,-1\n")
    assert main(["eval", str(gt), str(gt), "--json", str(read_only / "s.json"), "-q"]) == 2
    assert one_line_error(capsys, "eval") == f"scores file {read_only / 's.json'}: {denied}"
    assert main(["keys", "generate", str(read_only), "--name", "matcher"]) == 2
    assert one_line_error(capsys, "keys") == f"keys folder {read_only}: {denied}"
    assert main(["keys", "generate", str(read_only / "sub"), "--name", "matcher"]) == 2
    assert one_line_error(capsys, "keys") == f"keys folder {read_only / 'sub'}: {denied}"
    assert main(["track", str(tmp_path / "none.mp4"), "-o", str(read_only / "t.txt"), "-q"]) == 2
    assert one_line_error(capsys, "track") == f"tracks file {read_only / 't.txt'}: {denied}"
    assert sorted(p.name for p in read_only.iterdir()) == ["old.txt"]


def test_a_folder_that_refuses_writes_even_for_root(tmp_path, monkeypatch, capsys):
    """What a read-only mount or a folder without write permission gives, simulated: root ignores chmod."""
    import mtmc.outputs.paths as paths

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(paths.tempfile, "mkstemp", refuse)
    denied = "not writable (permission denied): choose another path"
    out = tmp_path / "out"
    assert main(["run", str(run_config(tmp_path, out)), "-q"]) == 2
    assert one_line_error(capsys, "run") == f"output folder {out}: {denied}"
    gt = tmp_path / "gt.txt"
    gt.write_text("1,1,0,0,10,10,1,-1,-1,-1\n")
    assert main(["eval", str(gt), str(gt), "--json", str(out / "s.json"), "-q"]) == 2
    assert one_line_error(capsys, "eval") == f"scores file {out / 's.json'}: {denied}"
    assert main(["keys", "generate", str(out), "--name", "m"]) == 2
    assert one_line_error(capsys, "keys") == f"keys folder {out}: {denied}"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4", "gt.txt", "out", "run.yaml"]


def test_the_other_writing_commands_refuse_a_file_where_a_folder_goes(tmp_path, blocker, capsys):
    config = run_config(tmp_path, tmp_path / "ok")
    assert main(["matcher", str(config), "--out", str(blocker)]) == 2
    assert one_line_error(capsys, "matcher") == f"output folder {blocker}: is a file: choose another path"
    assert main(["worker", str(config), "--camera", "c001", "--state-dir", str(blocker)]) == 2
    assert one_line_error(capsys, "worker") == f"state folder {blocker}: is a file: choose another path"
    scenario = Path(__file__).parents[1] / "configs" / "synthcity-small.yaml"
    assert main(["simulate", str(scenario), "-o", str(blocker)]) == 2
    assert one_line_error(capsys, "simulate") == f"scenario folder {blocker}: is a file: choose another path"
    assert main(["reid", "export", str(tmp_path / "model.pt"), "-o", str(blocker / "m.onnx")]) == 2
    assert one_line_error(capsys, "reid") == f"ONNX file {blocker / 'm.onnx'}: {blocker} is a file: choose another path"
    assert blocker.read_text() == "kept\n"
