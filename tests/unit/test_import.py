"""``algolens import``: a HookedTransformer state dict (the papers' published format) becomes a
run that answers like the model it came from."""

from __future__ import annotations

from pathlib import Path

import torch

from algolens.cli import main
from algolens.runs import load


def _papers_format(tmp: Path) -> Path:
    """A ``.pth`` with HookedTransformer's keys, including the buffers it saves (mask, IGNORE)."""
    model = load("zoo:add_d6_l2").model
    state = dict(model.state_dict())
    for i in range(model.cfg.n_layers):
        state[f"blocks.{i}.attn.mask"] = torch.tril(torch.ones(21, 21)).bool()
        state[f"blocks.{i}.attn.IGNORE"] = torch.tensor(-1e5)
    path = tmp / "add_d6.pth"
    torch.save({"state_dict": state}, path)
    return path


def test_import_gives_a_run_with_the_same_answers(tmp_path: Path, capsys) -> None:
    source = _papers_format(tmp_path)
    out = tmp_path / "imported"
    assert main(["import", str(source), "add", "--digits", "6", "--out", str(out)]) == 0
    assert "2 layers, 3 heads" in capsys.readouterr().out
    run, zoo = load(out), load("zoo:add_d6_l2")
    questions = ["123456+654321", "999999+1", "500000+499999", "0+0"]
    assert run.predict(questions) == zoo.predict(questions)
    for name, value in zoo.model.state_dict().items():
        assert torch.equal(run.model.state_dict()[name], value), name
    assert run.config.provenance.threads is None  # not trained here: no thread count to claim


def test_import_refuses_a_shape_the_task_cannot_use(tmp_path: Path, capsys) -> None:
    source = _papers_format(tmp_path)
    out = tmp_path / "imported"
    assert main(["import", str(source), "add", "--digits", "5", "--out", str(out)]) == 2
    assert "n_ctx 21" in capsys.readouterr().err
    assert not out.exists()
    code = main(["import", str(source), "add", "--digits", "6", "--model-opt", "n_heads=4",
                 "--out", str(out)])  # fmt: skip
    assert code == 2
    assert not out.exists()
