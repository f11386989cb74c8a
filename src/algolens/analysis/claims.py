"""A checked claim: the one record the analyses produce and the reports show."""

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


def claims_to_json(claims: list[Claim]) -> list[dict[str, Any]]:
    return [asdict(c) for c in claims]
