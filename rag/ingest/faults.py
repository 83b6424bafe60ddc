"""Fault injection for crash tests: stop an ingest at a named step instead of a timed ``kill -9``.

``RAG_FAULT_AT`` (``Settings.fault_at``; empty in normal use, and then every checkpoint is a no-op)
holds comma-separated plans ``STEP[:N][=exit|wait]``: the N-th time (default 1st) the ingest
reaches STEP it

* ``exit`` (default): ends the process at once, as ``kill -9`` would (no clean-up code runs; the
  kernel releases the ingest lock), or
* ``wait``: writes ``<index>/fault-STEP-N.reached`` and waits until that file is deleted, so a test
  can run readers against the half-done ingest, then let it go on (or kill it).

Steps, in the order an ingest reaches them: ``begin`` (marked under way), ``cleaned`` (after the
clean-up of a killed run), ``chunks-written`` (a batch's chunks stored, not yet committed),
``committed`` (a batch's document records written), ``end`` (before the mark is cleared).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from rag.errors import ConfigError

STEPS = ("begin", "cleaned", "chunks-written", "committed", "end")


@dataclass(frozen=True)
class _Plan:
    step: str
    nth: int
    action: str


@dataclass
class FaultPlan:
    plans: tuple[_Plan, ...] = ()
    reached: dict[str, int] = field(default_factory=dict)

    @classmethod
    def parse(cls, spec: str) -> "FaultPlan":
        plans = []
        for part in filter(None, (p.strip() for p in spec.split(","))):
            where, _, action = part.partition("=")
            step, _, nth = where.partition(":")
            if step not in STEPS or (nth and not nth.isdigit()) or action not in ("", "exit", "wait"):
                raise ConfigError(f"RAG_FAULT_AT must be STEP[:N][=exit|wait],... with STEP one of {', '.join(STEPS)}")
            plans.append(_Plan(step, int(nth or 1), action or "exit"))
        return cls(tuple(plans))

    def checkpoint(self, step: str, home: Path) -> None:
        """Called by the ingest at each named step; acts only on a planned one."""
        if not self.plans:
            return
        self.reached[step] = count = self.reached.get(step, 0) + 1
        for plan in self.plans:
            if plan.step == step and plan.nth == count:
                if plan.action == "exit":
                    os._exit(137)
                marker = home / f"fault-{step}-{count}.reached"
                marker.write_text(str(os.getpid()), encoding="utf-8")
                while marker.exists():
                    time.sleep(0.05)
