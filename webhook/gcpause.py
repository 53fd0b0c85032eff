"""The cyclic garbage collector paused while `check` or `diff` reads and evaluates manifests.

Every manifest becomes values and YAML node trees that stay alive until the report is written,
and reading them makes no reference cycles. With the collector on, each of its passes walks all
of them again: 10,000 objects cost three times the CPU (17.5 s instead of 5.5 s).
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def collector_paused() -> Iterator[None]:
    """No automatic collection inside the block; the collector's state is restored after it."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
