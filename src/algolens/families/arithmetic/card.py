"""The verification record on an arithmetic zoo card, and its re-check.

A card records, for both distributions (uniform, and the training mixture drawn one question
at a time), the failures on a seeded stream of questions with the interval and breakdowns; the
complete suites that fit the task; and the papers' own question lists. Every number can be
measured again from the record alone (:func:`recheck`, ``algolens zoo check``).
"""

from __future__ import annotations

from typing import Any

from algolens.families.arithmetic.suites import PAPER_LISTS, verify_suite
from algolens.families.base import RunLike
from algolens.verify import DISTRIBUTIONS, verify

# the papers' figures (Quirke & Barez 2024; Quirke, Neo & Barez 2024): layers/heads/d_model,
# batch x steps, final training loss, failures per million. The papers draw their million
# questions from their enriched training generator, so they compare with our "training" rate.
PAPER = "Quirke & Barez 2024; Quirke, Neo & Barez 2024"
PAPER_COLUMNS = ("config", "batch_x_steps", "loss", "failures_per_million")
PAPER_FIGURES: dict[str, dict[str, Any]] = {
    name: dict(zip(PAPER_COLUMNS, row, strict=True))
    for name, *row in (
        ("add_d5_l1", "1/3/510, d_mlp 2040", "64 x 30K", 9.4e-2, 12_621),
        ("add_d5_l2", "2/3/510", "64 x 15K", 1.6e-8, 0),
        ("add_d6_l2", "2/3/510", "64 x 15K", 1.7e-8, 2),
        ("add_d10_l2", "2/3/510", "64 x 40K", 7e-9, 0),
        ("add_d15_l2", "2/3/510", "64 x 80K", 8.6e-8, 10),
        ("sub_d10_l2", "2/3/510", "64 x 75K", 2.0e-3, 6_672),
        ("sub_d6_l2", "2/3/510", "64 x 30K", 5.8e-6, 2),
        ("mix_d6_l3", "3/4/510", "64 x 40K", 5e-9, {"add": 1, "sub": 0}),
        ("ins1_mix_d6_l3", "3/4/510 from add d6", "64 x 40K", 8e-9, {"add": 0, "sub": 0}),
        ("ins2_mix_d6_l4", "4/4/510 from add d6", "64 x 40K", 1.7e-8, {"add": 3, "sub": 8}),
        ("ins3_mix_d6_l4", "4/3/510 from add d6", "64 x 40K", 3.0e-4, {"add": 17, "sub": 3120}),
    )
}


def paper_reference(name: str) -> dict[str, Any]:
    """The paper's figures for a zoo model, and which of our two rates they compare with."""
    key = name.removesuffix("_paper")
    if key not in PAPER_FIGURES:
        return {}
    return {
        **PAPER_FIGURES[key],
        "source": PAPER,
        "compare_with": "training",
        "why": "the papers draw their questions from their enriched training generator",
    }


def verification_record(
    run: RunLike, questions: int, seed: int = 0, progress: bool = False
) -> dict[str, Any]:
    """Both distributions, the complete suites, the papers' lists: the card's record."""
    record: dict[str, Any] = {}
    for dist in DISTRIBUTIONS:
        res = verify(run.model, run.task, questions=questions, distribution=dist, seed=seed,
                     progress=progress)  # fmt: skip
        record[dist] = {"distribution": dist, "seed": seed, **res.to_dict()}
        record[dist]["examples"] = res.examples[:5]
        record[dist].pop("source")
    record["suites"] = suite_record(run)
    record["paper_lists"] = paper_list_record(run)
    return record


def card_record(run: RunLike, questions: int, progress: bool = False) -> dict[str, Any]:
    """The family's part of a zoo card (:attr:`Family.card`); for a mixed model that kept its
    checkpoints, the learning curve the reuse comparison reads."""
    card = {
        "verification": verification_record(run, questions, progress=progress),
        "paper_reference": paper_reference(run.name),
    }
    if run.task.op == "mix" and run.path is not None and (run.path / "checkpoints").is_dir():
        card["learning_curve"] = learning_curve(run)
    return card


CURVE: dict[str, Any] = {"questions": 20_480, "distribution": "training", "seed": 1}


def learning_curve(run: RunLike) -> dict[str, Any]:
    """Exact-match accuracy of every kept checkpoint on the same questions, and the first
    steps at 99%, 99.9% and no failure (Quirke, Neo & Barez 2024's reuse comparison)."""
    import copy

    from algolens.families.arithmetic.reuse import accuracy_curve, curve_to_json, steps_to

    assert run.path is not None
    model = copy.deepcopy(run.model)
    curve = accuracy_curve(model, run.task, run.path, CURVE["questions"], CURVE["seed"])
    marks = {"99%": 0.99, "99.9%": 0.999, "no failure": 1.0}
    steps = {k: steps_to(curve, v) for k, v in marks.items()}
    return {**CURVE, "points": curve_to_json(curve), "steps_to": steps}


def suite_record(run: RunLike, structured: bool = True) -> dict[str, Any]:
    """The complete suites that fit the task: ``carry`` (add), ``borrow`` (sub), both for mix;
    and the ``structured`` suite (sums of exactly 10^k, runs padded with zeros, one digit
    apart), so that a card cannot say 0 while those rare families fail."""
    names = {"add": ["carry"], "sub": ["borrow"], "mix": ["carry", "borrow"]}[run.task.op]
    if structured:  # hundreds of thousands of questions: the quick re-check leaves it out
        names.append("structured")
    out = {}
    for name in names:
        res = verify_suite(run.model, run.task, name)
        out[name] = {
            "questions": res.questions,
            "failures": res.failures,
            "by_class": dict(res.by_class),
            "examples": res.examples[:5],
        }
    return out


def paper_list_record(run: RunLike) -> dict[str, list[int]] | None:
    """Per list of the notebook's Part 8, [wrong, total]; None where they do not apply (the
    lists are addition questions of 5 or more digits)."""
    if run.task.op == "sub" or run.task.n_digits < 5:
        return None
    out = {}
    for name in PAPER_LISTS[:-1]:
        res = verify_suite(run.model, run.task, name)
        out[name] = [res.failures, res.questions]
    return out


def recheck(
    run: RunLike,
    card: dict[str, Any],
    quick: bool = False,
    progress: bool = False,
    record: bool = False,
) -> list[dict[str, Any]]:
    """Re-run a card's verification and compare: one row per recorded number.

    ``quick`` re-verifies only each distribution's first questions (the recorded ``prefix``),
    the complete suites and the lists; the full check re-draws every recorded question and
    asks the structured suite too. A suite the
    card does not hold yet (a card older than the suite) differs; with ``record`` its measured
    record is added to ``card`` (recorded numbers are never rewritten).
    """
    record_ = card["verification"]
    rows = []
    for dist in DISTRIBUTIONS:
        rows += _recheck_distribution(run, record_[dist], quick, progress)
    missing = "structured" not in record_["suites"]
    for suite, rec in suite_record(run, structured=not quick or (record and missing)).items():
        want = record_["suites"].get(suite)
        if want is None:  # a card written before the suite existed
            rows.append(_row(f"suite {suite} [questions, failures]", None, _pair(rec)))
            if record:
                record_["suites"][suite] = rec
                rows[-1]["recorded_now"] = True
            continue
        rows.append(_row(f"suite {suite} [questions, failures]", _pair(want), _pair(rec)))
        rows.append(_row(f"suite {suite} by class", want["by_class"], rec["by_class"]))
    rows.append(
        _row("paper lists [wrong, total]", record_.get("paper_lists"), paper_list_record(run))
    )
    return rows


def _recheck_distribution(
    run: RunLike, rec: dict[str, Any], quick: bool, progress: bool
) -> list[dict[str, Any]]:
    dist = rec["distribution"]
    prefix = _first_prefix(rec.get("prefix"))
    if quick and prefix is not None:
        res = verify(run.model, run.task, questions=prefix[0], distribution=dist,
                     seed=rec["seed"], progress=progress)  # fmt: skip
        return [_row(f"{dist}: failures in the first {prefix[0]:,}", prefix[1], res.failures)]
    res = verify(run.model, run.task, questions=rec["questions"], distribution=dist,
                 seed=rec["seed"], progress=progress)  # fmt: skip
    got = {c: [v[0], v[1]] for c, v in res.by_class.items()}
    want = {c: [v["questions"], v["failures"]] for c, v in rec["by_class"].items()}
    return [
        _row(f"{dist}: failures in {rec['questions']:,}", rec["failures"], res.failures),
        _row(f"{dist}: by class", want, got),
    ]


def _pair(rec: dict[str, Any]) -> list[int]:
    return [rec["questions"], rec["failures"]]


def _first_prefix(prefix: Any) -> list[int] | None:
    """The smallest recorded prefix ([questions, failures]); older cards hold a single pair."""
    if not prefix:
        return None
    pairs = prefix if isinstance(prefix[0], list) else [prefix]
    return min(pairs, key=lambda p: p[0])


def _row(what: str, recorded: Any, measured: Any) -> dict[str, Any]:
    return {"check": what, "recorded": recorded, "measured": measured, "same": recorded == measured}
