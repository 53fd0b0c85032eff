"""Today's date in UTC, worked out once a day rather than once per request."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, date, datetime

NANOSECONDS_PER_DAY = 86_400 * 1_000_000_000


class UtcToday:
    """`today()`: the date in UTC now (as `datetime.now(UTC).date()`); `clock` gives Unix time
    in nanoseconds."""

    def __init__(self, clock: Callable[[], int] = time.time_ns) -> None:
        self.clock = clock
        self.day = -1  # days since the Unix epoch of `date`
        self.date = date.min

    def __call__(self) -> date:
        day = self.clock() // NANOSECONDS_PER_DAY
        if day != self.day:
            self.date = datetime.fromtimestamp(day * 86_400, UTC).date()
            self.day = day
        return self.date
