"""The result every non-linearizability checker returns: a verdict, a one-line summary, counts for
machines and problem lines for people."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["CheckResult", "VALID", "NOT_VALID", "UNKNOWN"]

VALID = "valid"
NOT_VALID = "not valid"
UNKNOWN = "unknown"
_EXIT_CODES = {VALID: 0, NOT_VALID: 1, UNKNOWN: 2}


@dataclass
class CheckResult:
    checker: str
    verdict: str
    summary: str
    counts: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.verdict not in _EXIT_CODES:
            raise ValueError(f"verdict must be one of {tuple(_EXIT_CODES)}, not {self.verdict!r}")

    @property
    def valid(self) -> bool | None:
        return {VALID: True, NOT_VALID: False, UNKNOWN: None}[self.verdict]

    @property
    def exit_code(self) -> int:
        return _EXIT_CODES[self.verdict]

    def render(self, shown_problems: int = 20) -> str:
        lines = [self.verdict, f"{self.checker}: {self.summary}"]
        if self.counts:
            lines.append(", ".join(f"{name} {count}" for name, count in self.counts.items()))
        for problem in self.problems[:shown_problems]:
            lines.append(f"  {problem}")
        if len(self.problems) > shown_problems:
            lines.append(f"  ... and {len(self.problems) - shown_problems} more")
        return "\n".join(lines)
