"""A checked claim: the one record the analyses produce and the reports show.

A claim has three verdicts: passed, failed, and not applicable. "Not applicable" is for a claim
that this model cannot test (a 1-layer model, where the claim holds by construction; a family's
claim about a mechanism the model does not have): it is reported as such and never counted as
passed.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass
class Claim:
    """What a paper claims, what we expected and measured, and the verdict."""

    claim: str
    expected: str
    measured: str
    passed: bool
    source: str = ""
    applicable: bool = True

    def __post_init__(self) -> None:
        if not self.applicable:
            self.passed = False  # a claim this model cannot test never counts as passed

    @property
    def verdict(self) -> str:
        """``pass``, ``fail`` or ``n/a``."""
        if not self.applicable:
            return "n/a"
        return "pass" if self.passed else "fail"


def not_applicable(claim: str, expected: str, why: str, source: str = "") -> Claim:
    """A claim this model cannot test, with the reason in place of a measurement."""
    return Claim(claim, expected, f"not applicable: {why}", False, source, applicable=False)


def tally(claims: list[Claim]) -> str:
    """``"3 / 4"`` (passed of applicable), with the not-applicable count when there is one."""
    tested = [c for c in claims if c.applicable]
    text = f"{sum(c.passed for c in tested)} / {len(tested)}"
    skipped = len(claims) - len(tested)
    return text + (f" ({skipped} not applicable)" if skipped else "")


def claims_to_json(claims: list[Claim]) -> list[dict[str, Any]]:
    return [{**asdict(c), "verdict": c.verdict} for c in claims]
