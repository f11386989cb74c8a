"""Strict, typed options: a dataclass built from a dict refuses what it does not know.

Every config in algolens (task, model, training, initialisation) is a dataclass built through
:func:`from_dict`, so a misspelt key or a mistyped value is one clear line, for example
``unknown model option 'n_layer' (did you mean 'n_layers'?)``, never a silent default.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import types
import typing
from collections.abc import Collection, Mapping
from typing import Any, Literal, TypeVar, get_args, get_origin

from algolens.errors import AlgolensError

T = TypeVar("T")


def from_dict(cls: type[T], data: Any, what: str) -> T:
    """``cls(**data)`` after checking every key and the type of every value.

    ``what`` names the section in messages (``"model"``, ``"training"``). Integers are not
    accepted from floats (``steps=1e3``), booleans only as booleans, floats must be finite.
    """
    if not isinstance(data, Mapping):
        raise AlgolensError(f"the {what} options must be a table of KEY=VALUE, got {data!r}")
    hints = typing.get_type_hints(cls)
    fields = {f.name for f in dataclasses.fields(cls) if f.init}  # type: ignore[arg-type]
    values = {}
    for key, value in data.items():
        if key not in fields:
            raise AlgolensError(unknown_key(key, fields, f"{what} option"))
        values[key] = check_type(value, hints[key], f"{what} option {key!r}")
    return cls(**values)


def unknown_key(key: str, known: Collection[str], what: str) -> str:
    hint = did_you_mean(key, known) or f"; known: {', '.join(sorted(known))}"
    return f"unknown {what} {key!r}{hint}"


def did_you_mean(word: str, known: Collection[str], quote: bool = True) -> str:
    """`` (did you mean 'carry'?)`` for the closest of ``known`` to a mistyped ``word``, or ``''``
    when none is close (``quote=False`` for option flags: ``--questions``)."""
    close = difflib.get_close_matches(str(word), sorted(known), n=1, cutoff=0.6)
    if not close:
        return ""
    return f" (did you mean {close[0]!r}?)" if quote else f" (did you mean {close[0]}?)"


def check_type(value: Any, hint: Any, where: str) -> Any:
    """``value`` converted to ``hint`` (int -> float only), or a one-line error."""
    origin = get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return _union(value, get_args(hint), where)
    if origin is Literal:
        if value not in get_args(hint):
            choices = ", ".join(repr(a) for a in get_args(hint))
            raise AlgolensError(f"{where} must be one of {choices}, got {value!r}")
        return value
    if origin in (tuple, list):
        if not isinstance(value, list | tuple):
            raise AlgolensError(f"{where} must be a list, got {value!r}")
        inner = get_args(hint)[0] if get_args(hint) else Any
        return origin(check_type(v, inner, where) for v in value)
    if origin in (dict, Mapping):
        if not isinstance(value, Mapping):
            raise AlgolensError(f"{where} must be a table, got {value!r}")
        return dict(value)
    return _scalar(value, hint, where)


def _union(value: Any, args: tuple[Any, ...], where: str) -> Any:
    if value is None and type(None) in args:
        return None
    errors = []
    for arg in (a for a in args if a is not type(None)):
        try:
            return check_type(value, arg, where)
        except AlgolensError as e:
            errors.append(str(e))
    raise AlgolensError(errors[0] if errors else f"{where} cannot be {value!r}")


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


# per scalar type: the test a value must pass, and how to say what it must be
SCALARS: dict[Any, tuple[Any, str]] = {
    bool: (lambda v: isinstance(v, bool), "true or false"),
    int: (_is_int, "a whole number"),
    float: (_is_number, "a number"),
    str: (lambda v: isinstance(v, str), "text"),
}


def _scalar(value: Any, hint: Any, where: str) -> Any:
    if hint not in SCALARS:
        return value
    test, wanted = SCALARS[hint]
    if not test(value):
        raise AlgolensError(f"{where} must be {wanted}, got {_show(value)}")
    if hint is float:
        try:
            number = float(value)  # a whole number of 400 digits is beyond any float
        except OverflowError:
            number = math.inf
        if not math.isfinite(number):
            raise AlgolensError(f"{where} must be finite, got {_show(value)}")
        return number
    return value


def _show(value: Any) -> str:
    """``repr(value)`` for a message, cut short (an int of over 4,300 digits has none)."""
    try:
        text = repr(value)
    except ValueError:
        return "a number of over 4,300 digits"
    return text if len(text) <= 80 else text[:77] + "..."


SEED_MAX = 2**32 - 1  # torch's CPU generator keeps a seed's low 32 bits: 2**32 would repeat 0


def check_seed(seed: int, what: str = "seed") -> None:
    """A seed torch keeps whole (0 to 2^32 - 1): a larger one would silently repeat a smaller."""
    require(
        0 <= seed <= SEED_MAX,
        f"{what} must be 0 to {SEED_MAX:,} (torch keeps 32 bits of a seed), got {seed}",
    )


def require(condition: bool, message: str) -> None:
    """Raise a one-line :class:`AlgolensError` unless ``condition`` holds."""
    if not condition:
        raise AlgolensError(message)


# How the verifier computes (algolens.verify.screen): the bfloat16 screen with float32
# re-checks, or one precision alone. Here, below torch, so that a command checks the option
# before torch loads.
Precision = Literal["auto", "float32", "bfloat16"]
PRECISIONS: tuple[Precision, ...] = ("auto", "float32", "bfloat16")


def check_precision(precision: str) -> Precision:
    if precision not in PRECISIONS:
        raise AlgolensError(f"--precision must be auto, float32 or bfloat16, got {precision!r}")
    return precision  # type: ignore[return-value]
