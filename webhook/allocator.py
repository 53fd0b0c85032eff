"""The C heap of a server process: its free pages handed back to the system (glibc malloc_trim).

Every TLS connection holds a 256 KiB read buffer (uvloop), every read a 256 KiB block for the
decrypted bytes, and OpenSSL its records, all from the C heap. glibc gives back only the free
space at the top of the heap, so the pages that a burst of connections touched stay resident
after it ends, and the next burst, served from the same heap, adds its own: RSS grows with every
burst. `release_free_memory` returns the free pages wherever they are (a few hundred
microseconds on a worker's heap). Without glibc it does nothing.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable


def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's malloc_trim, or None when the C library is another one."""
    try:
        library = ctypes.CDLL(None)  # the symbols the process has loaded, the C library's too
    except OSError:
        return None
    function = getattr(library, "malloc_trim", None)
    if function is None:
        return None
    function.argtypes = [ctypes.c_size_t]
    function.restype = ctypes.c_int
    trim: Callable[[int], int] = function
    return trim


_TRIM = _malloc_trim()


def release_free_memory() -> bool:
    """Return the free pages of the C heap to the system. True when some were."""
    return _TRIM is not None and _TRIM(0) == 1
