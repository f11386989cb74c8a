"""The arithmetic tasks against plain-Python oracles."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from algolens.errors import AlgolensError
from algolens.families import make_task
from algolens.families.arithmetic.task import ArithmeticTask, oracle


def _ints(task: ArithmeticTask, row: list[int]) -> tuple[int, str, int]:
    text = task.decode(row)
    n = task.n_digits
    return int(text[:n]), text[n], int(text[n + 1 : 2 * n + 1])


@pytest.mark.parametrize("op", ["add", "sub", "mix"])
@pytest.mark.parametrize("n", [1, 2, 5, 6, 15, 20])
def test_sampled_answers_match_oracle(op: str, n: int) -> None:
    task = make_task(op, n_digits=n)
    batch = task.sample(256, torch.Generator().manual_seed(n))
    assert batch.inputs.shape == (256, 3 * n + 3)
    for row in batch.inputs.tolist():
        a, sym, b = _ints(task, row)
        assert task.decode(row)[2 * n + 2 :] == oracle(a, b, sym, n)
        assert task.decode(row)[2 * n + 1] == "="
        assert sym == {"add": "+", "sub": "-"}.get(op, sym)


def test_token_format_examples() -> None:
    add5 = make_task("add", n_digits=5)
    assert add5.decode(add5.encode_batch(["33357+82243"])[0]) == "33357+82243=115600"
    sub5 = make_task("sub", n_digits=5)
    assert sub5.decode(sub5.encode_batch(["55003-80002"])[0]) == "55003-80002=-24999"
    assert sub5.decode(sub5.encode_batch(["80002-55003"])[0]) == "80002-55003=+24999"
    assert add5.encode_batch(["12+34", "1+2"]).shape == (2, 18)
    assert add5.decode(add5.encode_batch(["1+2"])[0]) == "00001+00002=000003"


@pytest.mark.parametrize("question", ["12a+3", "12*34", "1234", "123+4", "12+", "-1+2", ""])
def test_bad_questions_raise_one_clear_error(question: str) -> None:
    with pytest.raises(AlgolensError):
        make_task("add", n_digits=2).encode_batch([question])


def test_add_model_refuses_subtraction() -> None:
    with pytest.raises(AlgolensError, match="add model"):
        make_task("add", n_digits=2).encode_batch(["12-3"])


@pytest.mark.parametrize("bad", [{"n_digits": 0}, {"n_digits": 21}, {"enrich_batch_share": 2.0}])
def test_bad_task_config(bad: dict) -> None:
    with pytest.raises(AlgolensError):
        make_task("add", **bad)


def test_unknown_task() -> None:
    with pytest.raises(AlgolensError, match="unknown task"):
        make_task("multiply")


def _python_labels(a: int, b: int, n: int) -> dict[str, list[int]]:
    """Per-column addition labels, units first, computed one column at a time in Python."""
    da = [(a // 10**c) % 10 for c in range(n)]
    db = [(b // 10**c) % 10 for c in range(n)]
    carry, out = 0, {k: [] for k in ("BA", "MC1", "MS9", "UC1", "US9")}
    for c in range(n):
        s = da[c] + db[c]
        out["BA"].append(s % 10)
        out["MC1"].append(int(s >= 10))
        out["MS9"].append(int(s == 9))
        out["UC1"].append(carry)
        out["US9"].append(int(s == 9 and carry == 1))
        carry = int(s + carry >= 10)
    return out


def _seed_case(a: int, b: int, n: int) -> str:
    """The seeds' get_question_case, restated over Python ints."""
    da = [(a // 10**c) % 10 for c in range(n)]
    db = [(b // 10**c) % 10 for c in range(n)]
    mc = [int(x + y > 9) for x, y in zip(da, db, strict=True)]
    ms = [int(x + y == 9) for x, y in zip(da, db, strict=True)]
    if sum(mc) == 0:
        return "BA"
    if sum(ms) == 0:
        return "MC1"
    if any(mc[d] and ms[d + 1] and ms[d + 2] for d in range(n - 2)):
        return "CascadeUS9"
    if any(mc[d] and ms[d + 1] for d in range(n - 1)):
        return "SimpleUS9"
    return "MC1"


@settings(max_examples=300, deadline=None)
@given(n=st.integers(1, 8), data=st.data())
def test_addition_labels_and_classes(n: int, data: st.DataObject) -> None:
    # draw digit strings biased towards sum-9 pairs so that cascades occur
    da = data.draw(st.lists(st.integers(0, 9), min_size=n, max_size=n))
    nines = data.draw(st.lists(st.booleans(), min_size=n, max_size=n))
    other = data.draw(st.lists(st.integers(0, 9), min_size=n, max_size=n))
    db = [9 - x if f else y for x, f, y in zip(da, nines, other, strict=True)]
    a = int("".join(map(str, da)))
    b = int("".join(map(str, db)))
    task = make_task("add", n_digits=n)
    batch = task.batch_from_tokens(task.encode_batch([f"{a}+{b}"]))
    expected = _python_labels(a, b, n)
    for key, values in expected.items():
        assert batch.labels[key][0].long().tolist() == values, key
    assert task.question_classes(batch) == [_seed_case(a, b, n)]
    # the cascade depth is the longest run of US9 columns
    runs, best = 0, 0
    for flag in expected["US9"]:
        runs = runs + 1 if flag else 0
        best = max(best, runs)
    assert int(batch.labels["depth"][0]) == best


@settings(max_examples=300, deadline=None)
@given(n=st.integers(1, 8), data=st.data())
def test_subtraction_labels(n: int, data: st.DataObject) -> None:
    a = data.draw(st.integers(0, 10**n - 1))
    b = data.draw(st.one_of(st.just(a), st.integers(0, 10**n - 1)))
    task = make_task("sub", n_digits=n)
    batch = task.batch_from_tokens(task.encode_batch([f"{a}-{b}"]))
    top, bot = max(a, b), min(a, b)
    borrow = 0
    for c in range(n):
        t, u = (top // 10**c) % 10, (bot // 10**c) % 10
        assert bool(batch.labels["MB"][0, c]) == (t < u)
        assert bool(batch.labels["MZ"][0, c]) == (t == u)
        assert bool(batch.labels["UB"][0, c]) == bool(borrow)
        assert bool(batch.labels["UZ"][0, c]) == (t == u and borrow == 1)
        borrow = int(t - u - borrow < 0)
    assert bool(batch.labels["NEG"][0]) == (a < b)
    assert task.decode(batch.inputs[0])[2 * n + 2 :] == oracle(a, b, "-", n)


def test_enrichment_makes_cascades_common() -> None:
    gen = torch.Generator().manual_seed(0)
    plain = make_task("add", n_digits=5, enrich_batch_share=0.0)
    rich = make_task("add", n_digits=5, enrich_batch_share=1.0)
    depth_plain = torch.cat([plain.sample(512, gen).labels["depth"] for _ in range(8)])
    depth_rich = torch.cat([rich.sample(512, gen).labels["depth"] for _ in range(8)])
    assert (depth_rich >= 2).float().mean() > 3 * (depth_plain >= 2).float().mean()
    ms9 = rich.sample(4096, gen).labels["MS9"].float().mean()
    assert 0.4 < ms9 < 0.5  # 40% forced plus 10% of the rest by chance


def test_sampler_is_seeded() -> None:
    task = make_task("mix", n_digits=6)
    a = task.sample(64, torch.Generator().manual_seed(3)).inputs
    b = task.sample(64, torch.Generator().manual_seed(3)).inputs
    c = task.sample(64, torch.Generator().manual_seed(4)).inputs
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_mix_sub_share() -> None:
    task = make_task("mix", n_digits=3, sub_share=0.25)
    is_sub = task.sample(8000, torch.Generator().manual_seed(0)).labels["is_sub"]
    assert 0.22 < is_sub.float().mean() < 0.28


def test_records_hold_question_answer_class() -> None:
    task = make_task("add", n_digits=5)
    batch = task.sample(4, torch.Generator().manual_seed(0))
    rec = task.records(batch)[0]
    assert {"question", "answer", "class", "depth", "BA", "US9"} <= set(rec)
    a, b = rec["question"].split("+")
    assert rec["answer"] == oracle(int(a), int(b), "+", 5)


def test_step_metrics_split_is_disjoint() -> None:
    """BA, UC1 and US9 partition the answer digits A0..A(n-1), as in the seeds."""
    task = make_task("add", n_digits=5)
    batch = task.sample(512, torch.Generator().manual_seed(0))
    lab = batch.labels
    ba = ~lab["UC1"]
    uc1 = lab["UC1"] & ~lab["MS9"]
    us9 = lab["UC1"] & lab["MS9"]
    assert int(ba.sum() + uc1.sum() + us9.sum()) == 512 * 5
    ones = torch.zeros(512, 6, dtype=torch.float64)
    metrics = task.step_metrics(ones, batch)
    assert {
        "loss",
        "loss_A0",
        "loss_A5",
        "loss_BA",
        "loss_UC1",
        "loss_US9",
        "loss_MC1",
        "loss_MS9",
    } <= set(metrics)


def test_training_stream_is_unchanged() -> None:
    """The training sampler's stream is pinned: retrains and resumes depend on it."""
    import hashlib

    expected = {"add": "099265f19880cb9d", "sub": "4c8f5141fd0d3776", "mix": "8926e9a7bb9eb7e2"}
    for op, digest in expected.items():
        task, gen, h = make_task(op, n_digits=5), torch.Generator().manual_seed(0), hashlib.sha256()
        for _ in range(5):
            h.update(task.sample(64, gen).inputs.numpy().tobytes())
        assert h.hexdigest()[:16] == digest, op


def _sum9_share(batch, n: int) -> float:
    x, y = batch.inputs[:, :n], batch.inputs[:, n + 1 : 2 * n + 1]
    return float(((x + y) == 9).double().mean())


def test_independent_draws_have_the_training_mixture() -> None:
    """Per question, the same share of sum-9 pairs as the per-batch training generator:
    0.4 x 0.4 forced + the rest at 1 in 10 = 0.244."""
    task, n = make_task("add", n_digits=5), 5
    gen = torch.Generator().manual_seed(0)
    batched = torch.cat([task.sample(64, gen).inputs for _ in range(1500)])
    per_batch = _sum9_share(task.batch_from_tokens(batched), n)
    independent = _sum9_share(task.sample_independent(96_000, gen), n)
    uniform = _sum9_share(task.sample_uniform(96_000, gen), n)
    assert per_batch == pytest.approx(0.244, abs=0.01)
    assert independent == pytest.approx(0.244, abs=0.005)
    assert uniform == pytest.approx(0.1, abs=0.005)


def test_hard_share_draws_near_equal_subtraction() -> None:
    n = 6
    plain = make_task("sub", n_digits=n, enrich_batch_share=0.0)
    hard = make_task("sub", n_digits=n, enrich_batch_share=0.0, hard_share=0.5)
    gen = torch.Generator().manual_seed(0)
    for task, low, high in ((plain, 0.0, 0.001), (hard, 0.06, 0.085)):  # 0.5 / (n + 1) = 0.071
        batch = task.sample_independent(20_000, gen)
        equal = (batch.inputs[:, :n] == batch.inputs[:, n + 1 : 2 * n + 1]).all(-1)
        assert low <= float(equal.double().mean()) <= high
        _answers_match(task, batch)
    batch = hard.sample(4096, gen)  # the training sampler too, and the answers stay right
    _answers_match(hard, batch)
    with pytest.raises(AlgolensError, match="18 digits"):
        make_task("sub", n_digits=19, hard_share=0.1)


def _answers_match(task, batch) -> None:
    n = task.n_digits
    for row in batch.inputs[:500].tolist():
        text = task.decode(row)
        a, op, b = task.parse(text[: 2 * n + 1])
        assert text[2 * n + 2 :] == oracle(a, b, op, n)


def _both_draws(plain: Any, other: Any, seed: int) -> list[tuple[str, Any, Any]]:
    """4,096 questions of each sampler from both tasks, the same seed: (sampler, plain, other)."""
    return [
        (
            draw,
            *(getattr(t, draw)(4096, torch.Generator().manual_seed(seed)) for t in (plain, other)),
        )
        for draw in ("sample", "sample_independent")
    ]


@pytest.mark.parametrize("op", ["add", "mix"])
def test_short_share_draws_short_operands_padded_with_zeros(op: str) -> None:
    """``short_share``: both operands lose their top z digits (z in 1..n-1) in that share of
    questions, the answers stay the oracle's, and 0 leaves the training stream as it was."""
    n = 10
    short = make_task(op, n_digits=n, short_share=0.5)
    for draw, a, b in _both_draws(make_task(op, n_digits=n), short, seed=1):
        lead = (b.inputs[:, 0] == 0) & (b.inputs[:, n + 1] == 0)
        assert 0.45 <= float(lead.double().mean()) <= 0.56, draw  # 0.5 + 0.5 x 1/100
        both_top_zero = (b.inputs[:, : n // 2] == 0).all(-1) & (
            b.inputs[:, n + 1 : n + 1 + n // 2] == 0
        ).all(-1)
        assert float(both_top_zero.double().mean()) > 0.2, draw  # z >= 5: 5 of 9 of half
        _answers_match(short, b)
        assert not torch.equal(a.inputs, b.inputs)
    assert make_task(op, n_digits=n, short_share=0.0).to_dict()["short_share"] == 0.0
    with pytest.raises(AlgolensError, match="short_share"):
        make_task(op, n_digits=n, short_share=1.5)


@pytest.mark.parametrize("op", ["add", "sub", "mix"])
def test_cascade_share_plants_long_carry_and_borrow_runs(op: str) -> None:
    """``cascade_share``: a planted run of L columns (L uniform in 1..n) makes the longest
    US9 (UZ) run at least L - 1, so half the rows carry a run of n/2 or more, where the plain
    enriched stream almost never does; sums of exactly 10^k come up; answers stay the oracle's."""
    n = 10
    planted = make_task(op, n_digits=n, cascade_share=1.0)
    for draw, a, b in _both_draws(make_task(op, n_digits=n), planted, seed=2):
        assert float((a.labels["depth"] >= n // 2).double().mean()) < 0.05, draw
        assert float((b.labels["depth"] >= n // 2).double().mean()) > 0.4, draw
        _answers_match(planted, b)
        if op != "sub":
            sums = [
                int(planted.decode(r)[:n]) + int(planted.decode(r)[n + 1 : 2 * n + 1])
                for r, s in zip(b.inputs.tolist(), b.labels["is_sub"].tolist(), strict=True)
                if not s
            ]
            powers = sum(1 for v in sums if v > 1 and str(v).strip("0") == "1")
            assert powers > 20, draw  # plain: about 0 in 4096
    assert make_task(op, n_digits=n).to_dict()["cascade_share"] == 0.0
    with pytest.raises(AlgolensError, match="cascade_share"):
        make_task(op, n_digits=n, cascade_share=-0.1)


def _sums_of_nines(task: Any, batch: Any) -> int:
    """Addition questions whose sum is 10^k - 1 (k >= 2): the nines family."""
    n = task.n_digits
    count = 0
    for row, is_sub in zip(batch.inputs.tolist(), batch.labels["is_sub"].tolist(), strict=True):
        text = task.decode(row)
        total = int(text[:n]) + int(text[n + 1 : 2 * n + 1])
        count += not is_sub and total >= 99 and set(str(total)) == {"9"}
    return count


def _planted_and(op: str, n: int, seed: int, **more: float) -> list[tuple[str, Any, Any]]:
    """Both draws of the planted stream (cascade_share 1) and of it with ``more``: (sampler,
    planted, with more), after checking that ``more`` at 0 keeps the planted stream question for
    question and that the answers with ``more`` are the oracle's."""
    planted = make_task(op, n_digits=n, cascade_share=1.0)
    task = make_task(op, n_digits=n, cascade_share=1.0, **more)
    off = make_task(op, n_digits=n, cascade_share=1.0, **{k: 0.0 for k in more})
    draws = _both_draws(planted, task, seed=seed)
    for draw, a, b in draws:
        same = getattr(off, draw)(4096, torch.Generator().manual_seed(seed))
        assert torch.equal(a.inputs, same.inputs), draw
        _answers_match(task, b)
    return draws


@pytest.mark.parametrize("op", ["add", "mix"])
def test_nines_share_plants_runs_that_carry_nothing(op: str) -> None:
    """``nines_share``: that share of the planted addition runs sums to 9 in every column from
    the units up, so sums of exactly 10^k - 1 come up (padded with zeros in half), while the
    carry runs stay in the rest; subtraction alone has no addition runs to plant."""
    n = 10
    task = make_task(op, n_digits=n)
    for draw, a, b in _planted_and(op, n, seed=2, nines_share=0.5):
        assert _sums_of_nines(task, a) < 20, draw  # planted carry runs: rarely nines
        assert _sums_of_nines(task, b) > 300, draw  # about a fifth of the additions
        assert float((b.labels["depth"] >= n // 2).double().mean()) > 0.15, draw
    with pytest.raises(AlgolensError, match="set cascade_share too"):
        make_task(op, n_digits=n, nines_share=0.5)
    with pytest.raises(AlgolensError, match="use it with add or mix"):
        make_task("sub", n_digits=n, cascade_share=0.1, nines_share=0.5)


@pytest.mark.parametrize("op", ["add", "sub", "mix"])
def test_bare_share_zeroes_the_columns_below_a_padded_run(op: str) -> None:
    """``bare_share``: in that share of the planted runs padded with zeros above, the columns
    below are zero too, so the run stands alone (400000 + 600000): both units digits are zero
    in about a third of the questions, against about 1 in 100 of the planted stream."""
    n = 10
    for draw, a, b in _planted_and(op, n, seed=3, bare_share=1.0):
        units = [(b_.inputs[:, n - 1] == 0) & (b_.inputs[:, 2 * n] == 0) for b_ in (a, b)]
        nonzero = (b.inputs[:, : 2 * n + 1] != 0).sum(-1) > 1  # more than the operator
        assert float(units[0].double().mean()) < 0.05, draw
        assert float((units[1] & nonzero).double().mean()) > 0.25, draw
    with pytest.raises(AlgolensError, match="set cascade_share too"):
        make_task(op, n_digits=n, bare_share=0.5)
