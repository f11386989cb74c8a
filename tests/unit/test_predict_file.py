"""``predict --file``: lines are read with a bound and decoded strictly, so an endless line
(``/dev/zero``) or bytes that are not UTF-8 are one ``error:`` line and exit 2, not a
MemoryError or a traceback. Controls: the same file with good lines answers them."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from algolens.cli import app

MAX_LINE = 10_000  # the bound the issue asks for (algolens.commands.run.MAX_LINE)


def _predict(run: Path, file: str, stdin: bytes | None = None) -> tuple[int, str, str]:
    done = CliRunner().invoke(app, ["predict", str(run), "--file", file], input=stdin)
    return done.exit_code, done.stdout, done.stderr


def _one_error(code: int, err: str, *words: str) -> None:
    assert code == 2, err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert all(w in err for w in words), err


def test_a_line_over_the_bound_is_refused(add_d2_run: Path, tmp_path: Path) -> None:
    path = tmp_path / "q.txt"
    path.write_text("12+34\n" + "1" * (MAX_LINE + 1) + "\n")
    code, _, err = _predict(add_d2_run, str(path))
    _one_error(code, err, "line 2", "longer than 10,000 characters")
    path.write_text("12+34\n" + "1" * MAX_LINE + "\n")  # control: at the bound, it is a question
    code, _, err = _predict(add_d2_run, str(path))
    assert code == 2 and "longer than" not in err and "malformed question" in err
    path.write_text("12+34\n\n 1+2 \n")  # control: good lines are answered
    code, out, _ = _predict(add_d2_run, str(path))
    assert code == 0 and out.splitlines() == ["12+34=046", "1+2=003"]


def test_a_long_line_of_multibyte_text_is_counted_in_characters(
    add_d2_run: Path, tmp_path: Path
) -> None:
    path = tmp_path / "q.txt"
    path.write_text("\u00e9" * (MAX_LINE + 1) + "\n", encoding="utf-8")
    _one_error(*_predict(add_d2_run, str(path))[::2], "longer than")
    path.write_text("\u00e9" * MAX_LINE + "\n", encoding="utf-8")  # control: 10,000 are read
    code, _, err = _predict(add_d2_run, str(path))
    assert code == 2 and "longer than" not in err


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="no /dev/zero")
def test_dev_zero_is_one_endless_line_refused(add_d2_run: Path) -> None:
    _one_error(*_predict(add_d2_run, "/dev/zero")[::2], "line 1", "longer than")


def test_bad_utf8_is_one_line(add_d2_run: Path, tmp_path: Path) -> None:
    path = tmp_path / "q.txt"
    path.write_bytes(b"12+34\n\xff\xfe+1\n")
    code, _, err = _predict(add_d2_run, str(path))
    _one_error(code, err, "line 2", "not UTF-8")
    code, _, err = _predict(add_d2_run, "-", stdin=b"1+2\n\xc3(\n")  # stdin too
    _one_error(code, err, "line 2 of stdin", "not UTF-8")
    code, out, _ = _predict(add_d2_run, "-", stdin=b"1+2\r\n")  # control: good bytes, CRLF
    assert code == 0 and out == "1+2=003\n"
