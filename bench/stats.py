"""Robust summaries of repeated timings: medians and deciles, never means."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
import statistics
import time
from typing import Any


def now_ns() -> int:
    """Monotonic nanoseconds that freezegun does not patch.

    The integration part runs under `freezer`, which replaces time.perf_counter and
    time.monotonic; CLOCK_MONOTONIC read directly stays real.
    """
    return time.clock_gettime_ns(time.CLOCK_MONOTONIC)


@dataclass(frozen=True, slots=True)
class Summary:
    """Median with the 10th and 90th percentiles of `n` samples (same unit)."""

    median: float
    p10: float
    p90: float
    n: int

    @classmethod
    def of(cls, samples: Sequence[float]) -> Summary:
        """Summarise; deciles need two samples, one sample is its own spread."""
        if not samples:
            raise ValueError("no samples")
        if len(samples) == 1:
            return cls(samples[0], samples[0], samples[0], 1)
        deciles = statistics.quantiles(samples, n=10, method="inclusive")
        return cls(statistics.median(samples), deciles[0], deciles[-1], len(samples))

    def scaled(self, factor: float) -> Summary:
        """The same summary in another unit (for example ns to ms)."""
        return Summary(
            self.median * factor, self.p10 * factor, self.p90 * factor, self.n
        )

    def to_json(self) -> dict[str, Any]:
        """Plain dict, to pass results between processes."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Summary:
        """Inverse of to_json."""
        return cls(
            float(data["median"]), float(data["p10"]), float(data["p90"]), data["n"]
        )


def ratios(numerator: Sequence[float], denominator: Sequence[float]) -> Summary:
    """Summarise per-round ratios of two clients measured in the same rounds.

    Each round holds both clients' medians, taken close together in time, so a
    slow patch of the machine cancels out of the ratio instead of biasing it.
    """
    if len(numerator) != len(denominator):
        raise ValueError("rounds differ")
    return Summary.of([a / b for a, b in zip(numerator, denominator, strict=True)])
