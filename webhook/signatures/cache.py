"""A bounded TTL cache with single-flight: concurrent callers of one key share one computation.

The computation runs as its own task, so a caller that gives up (its deadline passed) does not
cancel the lookup others wait for; its result is still cached for the next request.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class SingleFlightCache(Generic[K, V]):
    """Values live `ttl_of(value)` seconds; at most `max_entries`, least recently used go first."""

    def __init__(
        self,
        *,
        ttl_of: Callable[[V], float],
        max_entries: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ttl_of = ttl_of
        self._max = max_entries
        self._clock = clock
        self._entries: OrderedDict[K, tuple[float, V]] = OrderedDict()
        self._flights: dict[K, asyncio.Task[V]] = {}
        self.computations = 0  # how many lookups really ran, for metrics and tests

    def __len__(self) -> int:
        return len(self._entries)

    def peek(self, key: K) -> V | None:
        """The cached value of `key` when still fresh, else None."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        expires, value = entry
        if expires <= self._clock():
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return value

    async def get(self, key: K, compute: Callable[[], Awaitable[V]]) -> V:
        """The cached value, the result of the lookup in flight, or a new lookup's result."""
        value = self.peek(key)
        if value is not None:
            return value
        flight = self._flights.get(key)
        if flight is None:
            self.computations += 1
            flight = asyncio.ensure_future(self._run(key, compute))
            self._flights[key] = flight
        return await asyncio.shield(flight)

    async def cancel_flights(self) -> None:
        """Stop the lookups in flight (on shutdown) and wait until they have ended."""
        flights = list(self._flights.values())
        for flight in flights:
            flight.cancel()
        if flights:
            await asyncio.wait(flights)

    async def _run(self, key: K, compute: Callable[[], Awaitable[V]]) -> V:
        try:
            value = await compute()
            ttl = self._ttl_of(value)
            if ttl > 0:
                self._entries[key] = (self._clock() + ttl, value)
                self._entries.move_to_end(key)
                while len(self._entries) > self._max:
                    self._entries.popitem(last=False)
            return value
        finally:
            self._flights.pop(key, None)
