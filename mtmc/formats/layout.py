"""Where the sequences are: a single file, a MOTChallenge sequence folder, or a folder of them."""

from __future__ import annotations

from pathlib import Path

from mtmc.errors import MtmcError

TRACK_SUFFIXES = (".txt", ".xml")
_GENERIC_STEMS = {"gt", "test", "pred", "prediction", "predictions", "res", "result", "results", "tracks"}


def sequence_name(file: Path) -> str:
    """``SEQ`` for ``SEQ.txt``, ``SEQ/gt.txt`` or ``SEQ/gt/gt.txt``."""
    if file.stem.lower() not in _GENERIC_STEMS:
        return file.stem
    parent = file.parent
    if parent.name.lower() == "gt" and file.stem.lower() == "gt":
        parent = parent.parent
    return parent.name or file.stem


def find_sequences(path: str | Path, what: str, file_name: str | None = None) -> dict[str, Path]:
    """Sequence name -> file for ``path``.

    ``path`` may be a file; a sequence folder holding ``gt/gt.txt`` (or ``file_name``); or a folder
    whose ``*.txt``/``*.xml`` files and sub-folders are sequences. A sub-folder's file is the first
    of ``file_name``, ``gt/gt.txt``, ``gt.txt`` and ``<folder>.txt`` that exists.
    """
    path = Path(path)
    if path.is_file():
        return {sequence_name(path): path}
    if not path.is_dir():
        raise MtmcError(f"{what} not found: {path} (check the path)")
    own = _sequence_file(path, file_name)
    if own is not None:
        return {path.name: own}
    found: dict[str, Path] = {}
    for child in sorted(path.iterdir()):
        if child.is_file() and child.suffix.lower() in TRACK_SUFFIXES:
            found[child.stem] = child
        elif child.is_dir():
            file = _sequence_file(child, file_name)
            if file is not None:
                found[child.name] = file
    if not found:
        hint = f"{file_name}, " if file_name else ""
        raise MtmcError(
            f"{what} folder {path} holds no sequences (looked for *.txt, */{hint}gt/gt.txt, */gt.txt)"
        )
    return found


def _sequence_file(folder: Path, file_name: str | None) -> Path | None:
    names = [file_name] if file_name else []
    names += ["gt/gt.txt", "gt.txt", f"{folder.name}.txt"]
    return next((folder / n for n in names if (folder / n).is_file()), None)


def pair_sequences(gt: dict[str, Path], pred: dict[str, Path]) -> list[tuple[str, Path, Path]]:
    """(name, gt file, pred file) for each sequence; a sequence on one side only is an error."""
    if len(gt) == 1 and len(pred) == 1:
        (name, gt_file), (_, pred_file) = next(iter(gt.items())), next(iter(pred.items()))
        return [(name, gt_file, pred_file)]
    missing = sorted(set(gt) - set(pred))
    extra = sorted(set(pred) - set(gt))
    if missing:
        raise MtmcError(
            f"prediction has no file for sequence(s) {', '.join(missing)} (write an empty file for none)"
        )
    if extra:
        raise MtmcError(f"prediction has sequence(s) the ground truth does not: {', '.join(extra)}")
    return [(name, gt[name], pred[name]) for name in sorted(gt)]
