"""Fault injection for the emulator, deterministic under a seed.

For each request that the faults apply to (the token endpoint only when
``include_token_endpoint``; optionally filtered by ``methods`` and ``paths`` globs) the emulator
first consumes the next entry of ``script`` if any, else draws one number from a
``random.Random(seed)`` and picks at most one fault, in this order of probability mass:
``error_rates`` (status -> probability), ``rate_limit`` (429 with ``Retry-After``),
``reset_before`` (the connection drops before the server acts), ``reset_after`` (the server acts
- e.g. creates the scan - then the connection drops mid-response), ``token_expiry`` (the
presented token is invalidated, answered 401). ``latency`` (+ uniform ``latency_jitter``) is
added to every matching request. Same seed, same request order -> same faults.

Script entries: an int status (``503``), ``"429"``, ``"reset_before"``, ``"reset_after"``,
``"expire_token"``, ``"latency:<seconds>"`` or ``None``/``"ok"`` (no fault).

Example:
    >>> f = Faults(error_rates={503: 0.5}, seed=1)
    >>> plan = f.planner()
    >>> [plan.next_action() for _ in range(4)]
    [503, None, None, 503]
    >>> Faults(script=["reset_after"], methods=["POST"]).planner().next_action()
    'reset_after'
"""

from __future__ import annotations

import fnmatch
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

__all__ = ["FaultPlanner", "Faults"]

Action = int | str | None


@dataclass
class Faults:
    """What to inject; assign a new one at run time with ``emu.faults = Faults(...)``."""

    error_rates: Mapping[int, float] = field(default_factory=dict)
    rate_limit: float = 0.0
    retry_after: float | str = 1
    latency: float = 0.0
    latency_jitter: float = 0.0
    reset_before: float = 0.0
    reset_after: float = 0.0
    token_expiry: float = 0.0
    script: Sequence[Action] = ()
    methods: Sequence[str] | None = None
    paths: Sequence[str] | None = None
    include_token_endpoint: bool = False
    seed: int | None = 0
    max_faults: int | None = None

    def applies(self, method: str, path: str, *, is_token: bool) -> bool:
        """Whether faults apply to this request (``path`` is relative to the plane, e.g.
        ``/v1/scans``, or ``/oauth2/access_token``)."""
        if is_token and not self.include_token_endpoint:
            return False
        if self.methods is not None and method.upper() not in {m.upper() for m in self.methods}:
            return False
        return not (
            self.paths is not None and not any(fnmatch.fnmatchcase(path, p) for p in self.paths)
        )

    def planner(self) -> FaultPlanner:
        """A fresh planner (its own random stream and script cursor)."""
        return FaultPlanner(self)

    @classmethod
    def parse_error_rates(cls, text: str) -> dict[int, float]:
        """Parse ``"500=0.05,503=0.05"`` (CLI form).

        Example:
            >>> Faults.parse_error_rates("500=0.05, 503:0.1")
            {500: 0.05, 503: 0.1}
        """
        out: dict[int, float] = {}
        for part in text.split(","):
            part = part.strip()
            if not part:
                continue
            k, _, v = part.replace(":", "=").partition("=")
            out[int(k)] = float(v)
        return out


class FaultPlanner:
    """Draws the fault of each matching request (one per :class:`Faults` assignment)."""

    def __init__(self, faults: Faults) -> None:
        self.faults = faults
        self.rng = random.Random(faults.seed)
        self.script = list(faults.script)
        self.injected = 0

    def latency(self) -> float:
        """Seconds to add to this request."""
        f = self.faults
        if f.latency_jitter:
            return f.latency + self.rng.uniform(0, f.latency_jitter)
        return f.latency

    def next_action(self) -> Action:
        """The fault for the next matching request (``None`` = none)."""
        f = self.faults
        if f.max_faults is not None and self.injected >= f.max_faults:
            return None
        if self.script:
            a = self.script.pop(0)
            if a == "ok":
                a = None
            if a is not None:
                self.injected += 1
            return a
        x = self.rng.random()
        acc = 0.0
        choices: list[tuple[float, Action]] = [(p, s) for s, p in sorted(f.error_rates.items())]
        choices += [
            (f.rate_limit, "429"),
            (f.reset_before, "reset_before"),
            (f.reset_after, "reset_after"),
            (f.token_expiry, "expire_token"),
        ]
        for p, a in choices:
            acc += p
            if p > 0 and x < acc:
                self.injected += 1
                return a
        return None
