"""A claim's three verdicts: a claim this model cannot test is "n/a", never passed."""

from __future__ import annotations

from algolens.analysis.claims import Claim, claims_to_json, not_applicable, tally


def test_not_applicable_never_counts_as_passed() -> None:
    na = not_applicable("c", "e", "a 1-layer model")
    assert na.verdict == "n/a" and not na.passed
    forced = Claim("c", "e", "m", True, applicable=False)  # passed=True is overridden
    assert forced.verdict == "n/a" and not forced.passed
    assert Claim("c", "e", "m", True).verdict == "pass"
    assert Claim("c", "e", "m", False).verdict == "fail"


def test_tally_counts_applicable_claims_only() -> None:
    claims = [Claim("a", "", "", True), Claim("b", "", "", False), not_applicable("c", "", "x")]
    assert tally(claims) == "1 / 2 (1 not applicable)"
    assert tally(claims[:2]) == "1 / 2"
    assert [c["verdict"] for c in claims_to_json(claims)] == ["pass", "fail", "n/a"]
