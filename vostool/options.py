"""Method options: dataclasses whose fields users set with ``--set key=value``.

Every method declares one frozen dataclass of options. Field metadata may carry ``help`` (one line
shown by ``vostool methods``) and ``arch=True`` for fields that change the network's architecture
(those must agree with the weights that are loaded). Values given as strings are parsed according to
the field's type annotation: ``bool``, ``int``, ``float``, ``str``, ``Literal[...]``, ``Optional[...]``
and ``tuple[...]`` (comma-separated).
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any, Literal, Mapping, Sequence, get_args, get_origin

from vostool.errors import OptionError

_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


def parse_assignments(items: Sequence[str]) -> dict[str, str]:
    """Turn ``["a=1", "b=x"]`` into ``{"a": "1", "b": "x"}``; a malformed item is an OptionError."""
    result: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise OptionError(f"--set expects key=value, got {item!r} (e.g. --set backbone=resnet18)")
        result[key.replace("-", "_")] = value.strip()
    return result


def _type_name(tp: Any) -> str:
    origin = get_origin(tp)
    if origin is Literal:
        return "|".join(str(a) for a in get_args(tp))
    if origin in (typing.Union, types.UnionType):
        names = [_type_name(a) for a in get_args(tp) if a is not type(None)]
        return " or ".join(names) + " or none"
    if origin is tuple:
        args = get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:
            return f"comma-separated {_type_name(args[0])}s"
        return "comma-separated (" + ", ".join(_type_name(a) for a in args) + ")"
    return getattr(tp, "__name__", str(tp))


def _parse_scalar(text: str, tp: Any, key: str) -> Any:
    origin = get_origin(tp)
    if origin is Literal:
        choices = get_args(tp)
        for choice in choices:
            if str(choice).lower() == text.lower():
                return choice
        raise OptionError(f"--set {key}={text}: must be one of {', '.join(map(str, choices))}")
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in get_args(tp) if a is not type(None)]
        if text.lower() in ("none", "null", "") and len(inner) < len(get_args(tp)):
            return None
        errors = []
        for candidate in inner:
            try:
                return _parse_scalar(text, candidate, key)
            except OptionError as exc:
                errors.append(str(exc))
        raise OptionError(f"--set {key}={text}: expected {_type_name(tp)}")
    if origin is tuple:
        args = get_args(tp)
        parts = [p.strip() for p in text.replace(";", ",").split(",") if p.strip()]
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_parse_scalar(p, args[0], key) for p in parts)
        if len(parts) != len(args):
            raise OptionError(f"--set {key}={text}: expected {len(args)} comma-separated values")
        return tuple(_parse_scalar(p, a, key) for p, a in zip(parts, args))
    if tp is bool:
        low = text.lower()
        if low in _TRUE:
            return True
        if low in _FALSE:
            return False
        raise OptionError(f"--set {key}={text}: expected true or false")
    if tp is int:
        try:
            return int(text)
        except ValueError:
            raise OptionError(f"--set {key}={text}: expected an integer") from None
    if tp is float:
        try:
            return float(text)
        except ValueError:
            raise OptionError(f"--set {key}={text}: expected a number") from None
    if tp is str:
        return text
    raise OptionError(f"--set {key}: values of type {_type_name(tp)} cannot be set from the command line")


def _check_value(value: Any, tp: Any, key: str) -> Any:
    """Validate a Python value (not a string) against the annotation, coercing ints to floats."""
    origin = get_origin(tp)
    if origin is Literal:
        if value not in get_args(tp):
            raise OptionError(f"option {key}={value!r}: must be one of {', '.join(map(str, get_args(tp)))}")
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in get_args(tp):
            return None
        for candidate in get_args(tp):
            if candidate is type(None):
                continue
            try:
                return _check_value(value, candidate, key)
            except OptionError:
                continue
        raise OptionError(f"option {key}={value!r}: expected {_type_name(tp)}")
    if origin is tuple:
        if not isinstance(value, (tuple, list)):
            raise OptionError(f"option {key}={value!r}: expected {_type_name(tp)}")
        args = get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_check_value(v, args[0], key) for v in value)
        if len(value) != len(args):
            raise OptionError(f"option {key}={value!r}: expected {len(args)} values")
        return tuple(_check_value(v, a, key) for v, a in zip(value, args))
    if tp is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if tp is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if tp is bool and isinstance(value, bool):
        return value
    if tp is str and isinstance(value, str):
        return value
    raise OptionError(f"option {key}={value!r}: expected {_type_name(tp)}")


def field_types(cls: type) -> dict[str, Any]:
    """Resolved type annotations of an options dataclass."""
    return typing.get_type_hints(cls)


def make_options(cls: type, overrides: Mapping[str, Any] | None = None, base: Any = None) -> Any:
    """Build an options dataclass from ``base`` (or defaults) with ``overrides`` applied.

    String values are parsed by the field's type; other values are validated. An unknown key raises an
    OptionError that lists the valid keys.
    """
    hints = field_types(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    values: dict[str, Any] = {}
    for key, value in (overrides or {}).items():
        if key not in hints:
            raise OptionError(
                f"unknown option {key!r} for {getattr(cls, 'method_name', cls.__name__)}; "
                f"valid options: {', '.join(names)}"
            )
        if isinstance(value, str):
            values[key] = _parse_scalar(value, hints[key], key)
        else:
            values[key] = _check_value(value, hints[key], key)
    options = dataclasses.replace(base, **values) if base is not None else cls(**values)
    validate = getattr(options, "validate", None)
    if callable(validate):
        validate()
    return options


def describe_options(cls: type) -> list[tuple[str, str, str, str]]:
    """(name, type, default, help) for every field, in declaration order."""
    hints = field_types(cls)
    rows = []
    for f in dataclasses.fields(cls):
        if f.default is not dataclasses.MISSING:
            default = f.default
        elif f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
            default = f.default_factory()  # type: ignore[misc]
        else:
            default = "(required)"
        if isinstance(default, tuple):
            default_text = ",".join(str(v) for v in default)
        else:
            default_text = str(default)
        rows.append((f.name, _type_name(hints[f.name]), default_text, f.metadata.get("help", "")))
    return rows


def options_to_dict(options: Any) -> dict[str, Any]:
    """JSON-friendly dict of an options dataclass (tuples become lists)."""
    out = {}
    for f in dataclasses.fields(options):
        value = getattr(options, f.name)
        out[f.name] = list(value) if isinstance(value, tuple) else value
    return out


def architecture_fields(cls: type) -> list[str]:
    """Names of fields marked ``arch=True``: they must match the loaded weights."""
    return [f.name for f in dataclasses.fields(cls) if f.metadata.get("arch")]
