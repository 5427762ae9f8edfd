"""A conformance report: each clause passed or failed, with its evidence (what was sent, what
came back, what the records showed); as text for people and as JSON for machines."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class ClauseResult:
    name: str  # e.g. "repeated_do"
    title: str  # the contract it checks, as a sentence
    passed: bool
    problems: list[str] = field(default_factory=list)
    # (what, detail): "sent Do conform-..-1 (variant 0)" -> "OK {...}"; "records of .." -> ...
    evidence: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0


@dataclass
class Report:
    addr: str
    saga: str
    step: str
    clauses: list[ClauseResult]
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.clauses)

    @property
    def failed(self) -> list[str]:
        return [c.name for c in self.clauses if not c.passed]

    def as_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["passed"] = self.passed
        out["failed"] = self.failed
        for clause in out["clauses"]:
            clause["evidence"] = [{"what": w, "detail": d} for w, d in clause["evidence"]]
        return out

    def text(self, evidence_of_passed: bool = False) -> str:
        """Every clause on one line; the problems and evidence of each failed one below it."""
        head = f"conform {self.addr} --step {self.step} (saga {self.saga})"
        lines = [head]
        for c in self.clauses:
            mark = "PASS" if c.passed else "FAIL"
            lines.append(f"  {mark}  {c.name:<22} {c.title}")
            if c.passed and not evidence_of_passed:
                continue
            lines += [f"        ! {p}" for p in c.problems]
            lines += [f"          {w}: {d}" for w, d in c.evidence]
        verdict = "conforms" if self.passed else f"FAILED: {', '.join(self.failed)}"
        lines.append(f"{len(self.clauses)} clauses in {self.seconds:.1f}s: {verdict}")
        return "\n".join(lines)
