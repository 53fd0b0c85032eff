"""Small helpers of the benchmarks: percentiles, tables, and CPU and memory of processes."""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Sequence

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


def percentile(values: Sequence[float], share: float) -> float:
    """The `share` (0..1) percentile of `values` (nearest rank); 0.0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, math.ceil(share * len(ordered)) - 1))
    return ordered[rank]


def median(values: Iterable[float]) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2


def table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """A plain text table with right-aligned columns after the first."""
    cells = [[str(item) for item in header], *([_cell(item) for item in row] for row in rows)]
    widths = [max(len(row[index]) for row in cells) for index in range(len(header))]
    lines = []
    for number, row in enumerate(cells):
        parts = [row[0].ljust(widths[0])]
        parts += [item.rjust(width) for item, width in zip(row[1:], widths[1:], strict=True)]
        lines.append("  ".join(parts).rstrip())
        if number == 0:
            lines.append("  ".join("-" * width for width in widths))
    return "\n".join(lines)


def _cell(value: object) -> str:
    if isinstance(value, float):
        if value >= 100:
            return f"{value:,.0f}"
        if value >= 10:
            return f"{value:.1f}"
        return f"{value:.2f}"
    return str(value)


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process `pid` (from /proc/PID/stat)."""
    with open(f"/proc/{pid}/stat", "rb") as file:
        fields = file.read().rpartition(b")")[2].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def process_rss_bytes(pid: int) -> int:
    """Resident set size of process `pid` now."""
    with open(f"/proc/{pid}/statm", "rb") as file:
        return int(file.read().split()[1]) * PAGE_SIZE


def process_peak_rss_bytes(pid: int) -> int:
    """The highest resident set size process `pid` had (VmHWM)."""
    with open(f"/proc/{pid}/status", "rb") as file:
        for line in file:
            if line.startswith(b"VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0


def children(pid: int) -> list[int]:
    """The direct children of process `pid`."""
    found: list[int] = []
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{task}/children", "rb") as file:
                found.extend(int(item) for item in file.read().split())
        except OSError:
            continue
    return found


def load_average() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())
