"""Terminal output shared by the commands."""

from __future__ import annotations

from typing import Any


def print_wide(table: Any) -> None:
    """Print a rich table at its natural width: numbers are never squeezed into ellipses."""
    from rich.console import Console

    console = Console()
    needed = console.measure(table, options=console.options.update_width(1000)).maximum
    if needed > console.width:
        console = Console(width=needed)
    console.print(table)
