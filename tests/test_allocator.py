"""Handing the C heap's free pages back: what a burst left resident is released."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import REPOSITORY

BURST = """
from webhook.allocator import release_free_memory

def anonymous_kib():
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("RssAnon:"))

# 64 MiB in blocks of 64 KiB from the C heap, each followed by a small block that stays: the
# free space is spread over the heap, not at its top, so free() alone gives nothing back.
blocks, kept = [], []
for number in range(1024):
    blocks.append(bytearray(64 * 1024))
    kept.append(bytearray(600))
del blocks
before = anonymous_kib()
released = release_free_memory()
print(released, before, anonymous_kib())
"""


def test_the_free_pages_of_a_burst_are_returned_to_the_system() -> None:
    completed = subprocess.run(
        [sys.executable, "-c", BURST], capture_output=True, text=True, cwd=REPOSITORY, check=True
    )
    released, before, after = completed.stdout.split()
    assert released == "True"
    assert int(before) - int(after) > 32 * 1024  # KiB: most of the 64 MiB freed
