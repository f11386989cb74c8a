"""A user's script that a type checker must accept: algolens's public API is typed (the package
ships py.typed; ``load`` and ``Run`` are visible to mypy). Checked by tests/unit/test_package.py;
never run."""

import algolens
from algolens import AlgolensError, Run


def answers(name: str, questions: list[str]) -> list[str]:
    run: Run = algolens.load(name)
    return run.predict(questions)


def safe_answers(name: str) -> list[str] | None:
    try:
        return answers(name, ["12+34"])
    except AlgolensError:
        return None


def version() -> str:
    return algolens.__version__
