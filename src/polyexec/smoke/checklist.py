"""The checklist a smoke check prints: named steps, each PASS, FAIL or SKIP, with timing.

Steps run in order through :meth:`Checklist.run`: an async action returning ``(value, detail)``
is a PASS; any exception is a FAIL whose line is the exception's text (venue errors already
name the operation and never carry secrets); a timeout is a FAIL saying so. Once a
``required`` step has failed, later steps are SKIPped: there is no point placing an order
without credentials.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TypeVar

__all__ = ["Checklist", "Outcome", "StepResult"]

T = TypeVar("T")


class Outcome(StrEnum):
    PASS = "PASS"  # noqa: S105 - a verdict, not a password
    FAIL = "FAIL"
    SKIP = "SKIP"


@dataclass(frozen=True, slots=True)
class StepResult:
    name: str
    outcome: Outcome
    detail: str
    elapsed_ms: float


@dataclass
class Checklist:
    """An ordered list of step results; :attr:`passed` only if every step passed."""

    title: str
    clock: Callable[[], float] = time.perf_counter
    results: list[StepResult] = field(default_factory=list)
    blocked_by: str | None = None
    """The required step that failed, after which everything is skipped."""

    @property
    def passed(self) -> bool:
        return bool(self.results) and all(result.outcome is Outcome.PASS for result in self.results)

    async def run(
        self,
        name: str,
        action: Callable[[], Awaitable[tuple[T, str]]],
        *,
        required: bool = True,
        timeout_s: float | None = None,
    ) -> T | None:
        """Run one step; its value when it passed, ``None`` when it failed or was skipped."""
        if self.blocked_by is not None:
            self.results.append(StepResult(name, Outcome.SKIP, f"needs: {self.blocked_by}", 0.0))
            return None
        started = self.clock()
        try:
            value, detail = await asyncio.wait_for(action(), timeout_s)
        except Exception as exc:  # any failure of the step is its FAIL line
            elapsed = (self.clock() - started) * 1000
            self.results.append(StepResult(name, Outcome.FAIL, describe_error(exc, timeout_s), elapsed))
            if required:
                self.blocked_by = name
            return None
        elapsed = (self.clock() - started) * 1000
        self.results.append(StepResult(name, Outcome.PASS, detail, elapsed))
        return value

    def fail(self, name: str, detail: str, *, required: bool = True) -> None:
        """Record a failure found outside :meth:`run` (e.g. in clean-up)."""
        self.results.append(StepResult(name, Outcome.FAIL, detail, 0.0))
        if required and self.blocked_by is None:
            self.blocked_by = name

    def render(self) -> str:
        """The printed checklist: one aligned line per step and a verdict."""
        width = max((len(result.name) for result in self.results), default=0)
        lines = [self.title]
        for result in self.results:
            timing = f"{result.elapsed_ms:9.1f} ms" if result.outcome is not Outcome.SKIP else " " * 12
            detail = f"  {result.detail}" if result.detail else ""
            lines.append(f"  [{result.outcome.value}] {result.name:<{width}} {timing}{detail}")
        failed = sum(result.outcome is not Outcome.PASS for result in self.results)
        if self.passed:
            lines.append(f"  all {len(self.results)} checks passed")
        else:
            lines.append(f"  {failed} of {len(self.results)} checks did not pass")
        return "\n".join(lines)


def describe_error(exc: BaseException, timeout_s: float | None = None) -> str:
    """One line for a failed step."""
    if isinstance(exc, TimeoutError) and not str(exc).strip():
        return "timed out" if timeout_s is None else f"timed out after {timeout_s:g} s"
    text = str(exc).strip() or type(exc).__name__
    return " ".join(text.split())
