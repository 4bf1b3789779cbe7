"""Fast reading of numeric text tables (MOTChallenge, AI City, VATIC rows).

The fast path hands the whole file to numpy's C parser. Only when that fails does a slow pass
find the first bad line, so the error names the file, the line number and the reason.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np

from mtmc.errors import InputFormatError, MtmcError

_SPLIT = re.compile(r"[,\s]+")


def existing_file(path: str | Path, what: str) -> Path:
    """``path`` if it is a file, or one clear error naming ``what`` it should have been."""
    path = Path(path)
    if not path.exists():
        raise MtmcError(f"{what} not found: {path} (check the path)")
    if path.is_dir():
        raise MtmcError(f"{what} is a folder, expected a file: {path}")
    return path


def read_text(path: str | Path, what: str) -> str:
    """The file's text, or one clear error when it is missing or not text."""
    path = existing_file(path, what)
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise InputFormatError(path, f"not a text file ({exc.reason} at byte {exc.start})") from None


def read_numeric_table(
    path: str | Path,
    columns: int,
    what: str,
    names: str,
    optional: int = 0,
    quoted_tail: bool = False,
) -> np.ndarray:
    """Read the first ``columns`` numbers of every non-empty, non-comment line as float64.

    Values may be separated by commas, spaces or tabs (mixed is fine). ``optional`` more columns
    are read when every line has them, else filled with NaN. ``names`` describes the expected
    columns for error messages. With ``quoted_tail`` a ``"label"`` field is skipped.
    """
    width = columns + optional
    head = _head(path, what)
    table = None
    if not quoted_tail:
        # Fast: one separator, the file streamed through numpy's C reader.
        table = _parse(Path(path), "," if "," in head else None, columns, width)
    if table is None:
        # Slow: commas and white space mixed, or a quoted label to skip.
        text = read_text(path, what).replace(",", " ")
        if quoted_tail:
            text = re.sub(r'"[^"\n]*"', "", text)
        table = _parse(text.splitlines(), None, columns, width)
    if table is None:
        raise _first_bad_line(path, columns, names, quoted_tail)
    if not np.isfinite(table).all():
        bad = int(np.flatnonzero(~np.isfinite(table).all(axis=1))[0])
        raise _first_bad_line(path, columns, names, quoted_tail, nonfinite_row=bad)
    if table.shape[1] < width:
        table = np.column_stack([table, np.full((len(table), width - table.shape[1]), np.nan)])
    return table


def _head(path: str | Path, what: str, size: int = 65536) -> str:
    """The start of the file as text: a cheap look at its separators and emptiness."""
    path = existing_file(path, what)
    with path.open("rb") as handle:
        data = handle.read(size)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        if len(data) < size or exc.start < len(data) - 3:  # not merely a character cut at the end
            raise InputFormatError(path, f"not a text file ({exc.reason} at byte {exc.start})") from None
        return data[: exc.start].decode("utf-8")


def _parse(source: Path | list[str], delimiter: str | None, columns: int, width: int) -> np.ndarray | None:
    """The table with ``width`` columns if every line has them, else ``columns``; None if unreadable."""
    for wanted in range(width, columns - 1, -1):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # a file of comments only: no rows
                table = np.loadtxt(
                    source,
                    delimiter=delimiter,
                    usecols=range(wanted),
                    ndmin=2,
                    comments="#",
                    encoding="utf-8",
                )
            return table.reshape(-1, wanted)
        except (ValueError, IndexError, UnicodeDecodeError):
            continue
    return None


def _data_lines(path: str | Path, quoted_tail: bool):
    """(line number, tokens, shown text) of each line that holds data, in file order."""
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        content = line.split("#", 1)[0]
        if quoted_tail:
            content = re.sub(r'"[^"]*"', "", content)
        tokens = [t for t in _SPLIT.split(content.strip()) if t]
        if tokens:
            yield number, tokens, line.strip()[:80]


def _first_bad_line(
    path: str | Path, columns: int, names: str, quoted_tail: bool, nonfinite_row: int | None = None
) -> InputFormatError:
    for row, (number, tokens, shown) in enumerate(_data_lines(path, quoted_tail)):
        if len(tokens) < columns:
            return InputFormatError(
                path, f"expected at least {columns} values ({names}), found {len(tokens)}: '{shown}'", number
            )
        for position, token in enumerate(tokens[:columns], start=1):
            try:
                value = float(token)
            except ValueError:
                return InputFormatError(
                    path, f"value {position} '{token}' is not a number: '{shown}'", number
                )
            if not np.isfinite(value):
                return InputFormatError(path, f"value {position} '{token}' is not finite: '{shown}'", number)
        if row == nonfinite_row:
            return InputFormatError(path, f"a value is not finite: '{shown}'", number)
    return InputFormatError(path, f"could not be parsed as rows of {names}")


def whole_numbers(
    table: np.ndarray, column: int, path: str | Path, label: str, quoted_tail: bool = False
) -> np.ndarray:
    """Column ``column`` as int64, or an error naming the line whose value is not whole."""
    values = table[:, column]
    ints = values.astype(np.int64)
    bad = np.flatnonzero(ints != values)
    if len(bad):
        for row, (number, _, shown) in enumerate(_data_lines(path, quoted_tail)):
            if row == bad[0]:
                raise InputFormatError(
                    path, f"{label} must be a whole number, found {values[bad[0]]:g}: '{shown}'", number
                )
    return ints
