"""One rule's sliding window of matching event times, counted exactly over `(now - window, now]`.

Matches are kept as 1-second buckets of event time: a count per second, and, while a second holds at
most DENSE_AT matches, their exact nanosecond times and seqs (so an alert's sample logs are fetched
by seq, with no scan). Seconds strictly inside the window count whole;
the two edge seconds count only their times inside the bounds — from the kept times, or, for a dense
edge second, from the store (a count query over that one second, asked only when the bounds alone
cannot decide the threshold, or for an alert's exact count). Memory is O(window seconds), adding a
batch costs O(batch), counting costs O(log buckets) plus the rare edge query.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable

import numpy as np

NS = 1_000_000_000
DENSE_AT = 256
# counts the store holds for the rule in (low_ns, high_ns]
EdgeCount = Callable[[int, int], int]


class EventWindow:
    """Counts of one rule's matching logs by second of event time, pruned as the window moves on."""

    def __init__(self) -> None:
        self._counts: dict[int, int] = {}
        # the matches of each second that is not dense, as (times, seqs) runs sorted by (time, seq)
        self._times: dict[int, list[tuple[np.ndarray, np.ndarray]]] = {}
        self._heap: list[int] = []  # the bucket seconds, to prune the oldest
        self._total = 0
        self._max_second: int | None = None
        self._floor: int | None = None  # seconds below this were pruned

    @property
    def total(self) -> int:
        """Matches kept (those of the pruned seconds are gone)."""
        return self._total

    def add(self, times: np.ndarray, seqs: np.ndarray) -> None:
        """Add matching logs: their event times (int64 ns) and seqs, in any order."""
        if times.size == 0:
            return
        order = np.lexsort((seqs, times))
        times, seqs = times[order], seqs[order]
        seconds = times // NS
        if self._floor is not None:
            keep = seconds >= self._floor
            times, seqs, seconds = times[keep], seqs[keep], seconds[keep]
        if times.size == 0:
            return
        unique, starts, counts = np.unique(seconds, return_index=True, return_counts=True)
        for second, start, count in zip(unique.tolist(), starts.tolist(), counts.tolist(), strict=True):
            old = self._counts.get(second)
            if old is None:
                heapq.heappush(self._heap, second)
                old = 0
            new = old + count
            self._counts[second] = new
            if new <= DENSE_AT:
                run = (times[start : start + count], seqs[start : start + count])
                self._times.setdefault(second, []).append(run)
            else:
                self._times.pop(second, None)
        self._total += int(counts.sum())
        top = int(unique[-1])
        self._max_second = top if self._max_second is None else max(self._max_second, top)

    def prune(self, low_ns: int) -> None:
        """Forget the seconds wholly at or before `low_ns` (the clock is taken not to go back)."""
        floor = low_ns // NS
        self._floor = floor if self._floor is None else max(self._floor, floor)
        while self._heap and self._heap[0] < self._floor:
            second = heapq.heappop(self._heap)
            self._total -= self._counts.pop(second)
            self._times.pop(second, None)
        if not self._counts:
            self._max_second = None

    def bounds(self, low_ns: int, high_ns: int) -> tuple[int, int]:
        """(least, most) matches in (low_ns, high_ns] without asking the store: exact when equal."""
        kept, edges = self._edges(low_ns, high_ns)
        least = most = kept
        for second, outside in edges:
            if outside is None:  # a dense edge second: anywhere from none to all of it is outside
                least -= self._counts[second]
            else:
                least -= outside
                most -= outside
        return max(least, 0), most

    def count(self, low_ns: int, high_ns: int, edge_count: EdgeCount) -> int:
        """Exact matches in (low_ns, high_ns]; dense edge seconds are counted by `edge_count`."""
        kept, ((low_s, below), (high_s, above)) = self._edges(low_ns, high_ns)
        if below is None:
            below = edge_count(low_s * NS - 1, low_ns)
        if above is None:
            above = edge_count(high_ns, (high_s + 1) * NS - 1)
        return kept - below - above

    def _edges(self, low_ns: int, high_ns: int) -> tuple[int, tuple[tuple[int, int | None], ...]]:
        """After pruning: the matches of the seconds from low_ns's to high_ns's, and for those two
        edge seconds how many of their matches fall outside the bounds (None: dense, unknown here)."""
        self.prune(low_ns)
        low_s, high_s = low_ns // NS, high_ns // NS
        kept = self._total
        if self._max_second is not None and self._max_second > high_s:
            kept -= sum(c for s, c in self._counts.items() if s > high_s)
        edges = ((low_s, self._at_or_before(low_s, low_ns)), (high_s, self._after(high_s, high_ns)))
        return kept, edges

    def _at_or_before(self, second: int, bound: int) -> int | None:
        """Matches of `second` with time <= bound (None when the second is dense)."""
        if second not in self._counts:
            return 0
        runs = self._times.get(second)
        if runs is None:
            return None
        return sum(int(np.searchsorted(times, bound, side="right")) for times, _ in runs)

    def _after(self, second: int, bound: int) -> int | None:
        """Matches of `second` with time > bound (None when the second is dense)."""
        at_or_before = self._at_or_before(second, bound)
        return None if at_or_before is None else self._counts.get(second, 0) - at_or_before

    def oldest(self, low_ns: int, high_ns: int, limit: int) -> list[int] | None:
        """Seqs of the first `limit` matches in (low_ns, high_ns] by (time, seq); None when a dense
        second is in the way (the caller then asks the store)."""
        times: list[np.ndarray] = []
        seqs: list[np.ndarray] = []
        found = 0
        for second in sorted(s for s in self._counts if low_ns // NS <= s <= high_ns // NS):
            runs = self._times.get(second)
            if runs is None:
                return None
            for t, q in runs:
                inside = (t > low_ns) & (t <= high_ns)
                times.append(t[inside])
                seqs.append(q[inside])
                found += int(inside.sum())
            if found >= limit:
                break
        if not times:
            return []
        all_times, all_seqs = np.concatenate(times), np.concatenate(seqs)
        order = np.lexsort((all_seqs, all_times))[:limit]
        picked: list[int] = all_seqs[order].tolist()
        return picked
