"""The report's logit-lens section: its last row is the model's own accuracy per answer digit
(read from the analysis's clean run), and an earlier block reads less."""

from __future__ import annotations

import pytest
from tests.conftest import ADD_D2_STORED

from algolens.families.arithmetic.analysis import add_lens, analyse_arithmetic
from algolens.families.arithmetic.report import lens_section
from algolens.runs import load_run


def test_the_logit_lens_section_ends_at_the_model_s_own_answers() -> None:
    run = load_run(ADD_D2_STORED)
    a = analyse_arithmetic(run.model, run.task, 200, 0, per_class=20)
    add_lens(a, run.model, run.task)
    assert a.lens is not None and a.lens.shape == (2, run.task.n_answer)
    own = a.nodes.clean_correct.double().mean(0)
    assert a.lens[-1].tolist() == pytest.approx(own.tolist())
    assert float(a.lens[0].mean()) < float(a.lens[-1].mean())  # layer 0 alone answers less
    section = lens_section(a)
    assert section is not None and section.key == "logit-lens"
    assert [row[0] for row in section.tables[0].rows] == ["after layer 0", "after layer 1"]
