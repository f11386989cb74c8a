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
from collections.abc import Mapping
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


def unknown_key(key: str, known: set[str] | list[str], what: str) -> str:
    close = difflib.get_close_matches(str(key), sorted(known), n=1, cutoff=0.6)
    hint = f" (did you mean {close[0]!r}?)" if close else f"; known: {', '.join(sorted(known))}"
    return f"unknown {what} {key!r}{hint}"


def check_type(value: Any, hint: Any, where: str) -> Any:
    """``value`` converted to ``hint`` (int -> float only), or a one-line error."""
    origin, args = get_origin(hint), get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in (a for a in args if a is not type(None)):
            try:
                return check_type(value, arg, where)
            except AlgolensError as e:
                errors.append(str(e))
        raise AlgolensError(errors[0] if errors else f"{where} cannot be {value!r}")
    if origin is Literal:
        if value not in args:
            choices = ", ".join(repr(a) for a in args)
            raise AlgolensError(f"{where} must be one of {choices}, got {value!r}")
        return value
    if origin in (tuple, list):
        if not isinstance(value, list | tuple):
            raise AlgolensError(f"{where} must be a list, got {value!r}")
        inner = args[0] if args else Any
        return origin(check_type(v, inner, where) for v in value)
    if origin in (dict, Mapping):
        if not isinstance(value, Mapping):
            raise AlgolensError(f"{where} must be a table, got {value!r}")
        return dict(value)
    return _scalar(value, hint, where)


def _scalar(value: Any, hint: Any, where: str) -> Any:
    if hint is Any:
        return value
    if hint is bool:
        if not isinstance(value, bool):
            raise AlgolensError(f"{where} must be true or false, got {value!r}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise AlgolensError(f"{where} must be a whole number, got {value!r}")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise AlgolensError(f"{where} must be a number, got {value!r}")
        if not math.isfinite(value):
            raise AlgolensError(f"{where} must be finite, got {value!r}")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise AlgolensError(f"{where} must be text, got {value!r}")
        return value
    return value


def require(condition: bool, message: str) -> None:
    """Raise a one-line :class:`AlgolensError` unless ``condition`` holds."""
    if not condition:
        raise AlgolensError(message)
