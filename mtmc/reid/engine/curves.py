"""Training curves as a PNG: the losses per epoch beside the query / gallery mAP and rank-1.

matplotlib is optional (it is not a dependency of mtmc); without it no picture is drawn and the
numbers stay in ``history.json``. The figure is drawn on the Agg canvas directly, so the global
matplotlib backend of the calling program is left alone.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from pathlib import Path
from typing import Any


def matplotlib_available() -> bool:
    return importlib.util.find_spec("matplotlib") is not None


def write_curves(history: Sequence[dict[str, Any]], path: Path) -> Path | None:
    """Draw ``history`` (one dict per epoch: ``epoch``, ``loss``, ``losses`` {name: value}, and
    ``mAP`` / ``rank1`` fractions on evaluated epochs) to ``path``; None when matplotlib is missing."""
    if not matplotlib_available() or not history:
        return None
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    figure = Figure(figsize=(10, 4), layout="constrained")
    FigureCanvasAgg(figure)
    losses, scores = figure.subplots(1, 2)
    epochs = [row["epoch"] for row in history]
    losses.plot(epochs, [row["loss"] for row in history], color="black", linewidth=2, label="total")
    names = dict.fromkeys(
        name for row in history for name in row.get("losses", {})
    )  # staged recipes change them
    for name in names:
        losses.plot(
            epochs, [row["losses"].get(name, float("nan")) for row in history], marker=".", label=name
        )
    losses.set(xlabel="epoch", ylabel="loss (mean over the epoch)", title="training loss")
    losses.legend(fontsize="small")
    losses.grid(alpha=0.3)
    evaluated = [row for row in history if "mAP" in row]
    for key, label in (("mAP", "mAP"), ("rank1", "rank-1")):
        scores.plot(
            [row["epoch"] for row in evaluated],
            [100 * row[key] for row in evaluated],
            marker="o",
            label=label,
        )
    scores.set(xlabel="epoch", ylabel="%", title="query / gallery", ylim=(0, 100))
    scores.set_xlim(losses.get_xlim())
    if evaluated:
        scores.legend(fontsize="small")
    else:
        scores.text(0.5, 0.5, "not evaluated yet", ha="center", va="center", transform=scores.transAxes)
    scores.grid(alpha=0.3)
    for axes in (losses, scores):
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.part")
    figure.savefig(partial, dpi=100, format="png")
    partial.replace(path)
    return path
