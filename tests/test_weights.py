"""Weights by name: lookup order, hash checks, one-line errors, fetching (from a file URL)."""

import hashlib

import pytest

from mtmc import weights
from mtmc.cli import main
from mtmc.errors import MtmcError
from mtmc.weights import WeightsEntry, fetch, resolve_weights


def entry_for(content: bytes, **overrides) -> WeightsEntry:
    fields = dict(
        name="tiny",
        file="tiny.bin",
        url="https://example.org/tiny.bin",
        licence="MIT",
        about="test",
        sha256=hashlib.sha256(content).hexdigest(),
    )
    return WeightsEntry(**{**fields, **overrides})


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """An empty weights/ folder and no mirror, so lookups see only what a test puts there."""
    monkeypatch.setattr(weights, "WEIGHTS_DIR", tmp_path / "weights")
    monkeypatch.setattr(weights, "REPO_ROOT", tmp_path / "repo")
    monkeypatch.delenv("MTMC_WEIGHTS_DIR", raising=False)
    return tmp_path


def test_shipped_mirror_resolves_yolox(data_dir):
    path = resolve_weights("yolox-nano")
    assert path.name == "yolox_nano.onnx"
    assert weights.load_manifest()["yolox-nano"].matches(path)


def test_missing_names_where_it_looked_and_the_fetch_command(isolated):
    entry = entry_for(b"abc")
    with pytest.raises(MtmcError) as info:
        resolve_weights("tiny", {"tiny": entry})
    message = str(info.value)
    assert "looked in" in message and str(isolated / "weights" / "tiny.bin") in message
    assert message.endswith("fetch with: mtmc weights fetch tiny")


def test_weights_shipped_in_the_repository_say_how_to_restore_them_not_fetch(isolated):
    entry = entry_for(b"abc", url=None)
    with pytest.raises(MtmcError) as info:
        resolve_weights("tiny", {"tiny": entry})
    assert str(info.value).endswith("restore it with: git checkout -- weights/tiny.bin")
    with pytest.raises(MtmcError, match="ship in the repository's weights/, not as a download"):
        fetch(entry)


def test_env_folder_is_searched_and_hashes_are_checked(isolated, monkeypatch):
    folder = isolated / "mine"
    folder.mkdir()
    monkeypatch.setenv("MTMC_WEIGHTS_DIR", str(folder))
    entry = entry_for(b"right bytes")
    (folder / "tiny.bin").write_bytes(b"wrong bytes")
    with pytest.raises(MtmcError, match="not found"):
        resolve_weights("tiny", {"tiny": entry})
    (folder / "tiny.bin").write_bytes(b"right bytes")
    assert resolve_weights("tiny", {"tiny": entry}) == folder / "tiny.bin"
    prefix_only = entry_for(
        b"right bytes", sha256=None, sha256_prefix=hashlib.sha256(b"right bytes").hexdigest()[:8]
    )
    assert resolve_weights("tiny", {"tiny": prefix_only}) == folder / "tiny.bin"


def test_unknown_name_and_missing_path(isolated):
    with pytest.raises(MtmcError, match="known names are tiny"):
        resolve_weights("other", {"tiny": entry_for(b"x")})
    with pytest.raises(MtmcError, match="weights file not found: .*model.onnx"):
        resolve_weights(isolated / "model.onnx", {"tiny": entry_for(b"x")})


def test_fetch_checks_the_hash_before_saving(isolated):
    source = isolated / "upstream.bin"
    source.write_bytes(b"payload")
    good = entry_for(b"payload", url=source.as_uri())
    saved = fetch(good)
    assert saved == isolated / "weights" / "tiny.bin" and saved.read_bytes() == b"payload"
    saved.unlink()
    with pytest.raises(MtmcError, match="does not match"):
        fetch(entry_for(b"other", url=source.as_uri()))
    assert list((isolated / "weights").iterdir()) == []  # no partial file left behind
    with pytest.raises(MtmcError, match="cannot download"):
        fetch(entry_for(b"payload", url=(isolated / "absent.bin").as_uri()))


def test_weights_command(data_dir, capsys):
    assert main(["weights", "list"]) == 0
    assert "yolox-nano" in capsys.readouterr().out
    assert main(["weights", "verify", "yolox-nano"]) == 0
    assert main(["weights", "fetch", "no-such-model"]) == 2
    assert "known names are" in capsys.readouterr().err


def test_openvino_ir_needs_its_bin_beside_it_and_fetches_both(isolated):
    """An entry with companions (an IR's .bin beside its .xml) is found only when every file is
    there with its hash, and fetch brings them all."""
    source = isolated / "upstream"
    source.mkdir()
    (source / "net.xml").write_bytes(b"<net/>")
    (source / "net.bin").write_bytes(b"weights")
    companion = {
        "file": "net.bin",
        "sha256": hashlib.sha256(b"weights").hexdigest(),
        "url": (source / "net.bin").as_uri(),
    }
    entry = entry_for(
        b"<net/>", file="omz/net.xml", url=(source / "net.xml").as_uri(), companions=[companion]
    )
    with pytest.raises(MtmcError, match=r"each with net.bin beside it\); fetch with: mtmc weights fetch tiny"):
        resolve_weights("tiny", {"tiny": entry})
    saved = fetch(entry)
    assert saved == isolated / "weights" / "omz" / "net.xml"
    assert (saved.parent / "net.bin").read_bytes() == b"weights"
    assert resolve_weights("tiny", {"tiny": entry}) == saved
    (saved.parent / "net.bin").write_bytes(b"tampered")
    assert weights.find(entry) is None


def test_manifest_open_model_zoo_entries_resolve_from_the_mirror(data_dir):
    manifest = weights.load_manifest()
    for name in ("vehicle-detection-0202", "vehicle-attributes-recognition-barrier-0039"):
        path = resolve_weights(name, manifest)
        assert path.suffix == ".xml" and (path.parent / f"{path.stem}.bin").is_file()
