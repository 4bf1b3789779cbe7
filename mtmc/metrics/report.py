"""Show results: a table on the terminal and a JSON file with the numbers."""

from __future__ import annotations

import json
import math
from pathlib import Path

from mtmc.metrics.evaluate import SequenceCounts

# (header, key, percent?) in table order.
COLUMNS = (
    ("IDF1", "idf1", True), ("IDP", "idp", True), ("IDR", "idr", True),
    ("MOTA", "mota", True), ("MOTP", "motp", False), ("HOTA", "hota", True),
    ("DetA", "deta", True), ("AssA", "assa", True), ("Rcll", "recall", True), ("Prcn", "precision", True),
    ("GT", "num_unique_objects", False), ("MT", "mostly_tracked", False), ("PT", "partially_tracked", False),
    ("ML", "mostly_lost", False), ("FP", "num_false_positives", False), ("FN", "num_misses", False),
    ("IDs", "num_switches", False), ("Frag", "num_fragmentations", False),
)  # fmt: skip


def results_dict(per_sequence: dict[str, SequenceCounts], overall: SequenceCounts) -> dict[str, dict]:
    """``{"overall": metrics, "<sequence>": metrics, ...}`` with NaN as None (valid JSON)."""
    out = {"overall": overall.metrics()}
    out.update({name: counts.metrics() for name, counts in per_sequence.items()})
    return {
        name: {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in m.items()}
        for name, m in out.items()
    }


def write_json(path: str | Path, results: dict[str, dict]) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2) + "\n")


def _cell(value: float | int | None, percent: bool) -> str:
    if value is None:
        return "-"
    if percent:
        return f"{100 * value:.1f}"
    if isinstance(value, float) and not value.is_integer():
        return f"{value:.3f}"
    return str(int(value))


def print_table(results: dict[str, dict], title: str) -> None:
    """Sequences first, the overall row last and bold; ratios in percent, MOTP as mean 1 - IoU."""
    from rich import box
    from rich.table import Table

    from mtmc.console import print_wide

    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, padding=(0, 1))
    table.add_column("sequence", no_wrap=True)
    for header, _, _ in COLUMNS:
        table.add_column(header, justify="right", no_wrap=True, min_width=len(header))
    names = [n for n in results if n != "overall"] + ["overall"]
    for name in names:
        row = [_cell(results[name].get(key), percent) for _, key, percent in COLUMNS]
        table.add_row(name, *row, style="bold" if name == "overall" else None)
    print_wide(table)
