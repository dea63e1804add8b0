"""Typed configuration trees: plain data (YAML, overrides) to dataclasses and back.

One builder for every configuration dataclass: each value is checked against its field's type
hint (int, float, bool, str, Literal, Optional / unions, tuple, list, nested dataclasses), so a
wrong type or an unknown key fails when the file is read, naming the key, instead of deep
inside training. Conversions are the ones YAML needs and nothing more: an int or a string
such as `1e-2` (YAML 1.1 reads it as text) is a float where a float is expected; a bool is
never a number.
"""

from __future__ import annotations

import difflib
import types
from dataclasses import fields, is_dataclass
from typing import Any, Generic, Literal, TypeVar, Union, get_args, get_origin, get_type_hints

from mapfree.errors import UserError

S = TypeVar("S")


class ConfigError(UserError, ValueError):
    """A configuration value or key that does not fit the schema (the CLI exits with code 2)."""


class Partial(Generic[S]):
    """`Partial[Section]`: a mapping that holds only some keys of the dataclass `Section`, each typed and checked
    against its schema (unknown keys fail), nested sections partial too. Deltas such as a study arm's changes to
    the training configuration, deep-merged onto a complete tree later (:func:`mapfree.configs.loader.load`)."""


def _join(key: str, name: str) -> str:
    return f"{key}.{name}" if key else name


def type_name(tp: Any) -> str:
    """A short readable name of a type hint (`int`, `float or null`, `[int, int]`)."""
    origin, args = get_origin(tp), get_args(tp)
    if tp is type(None):
        return "null"
    if origin in (Union, types.UnionType):
        return " or ".join(type_name(a) for a in args)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in args)
    if origin is tuple and args and args[-1] is not Ellipsis:
        return "[" + ", ".join(type_name(a) for a in args) + "]"
    if origin in (tuple, list):
        return f"list of {type_name(args[0])}" if args else "list"
    if is_dataclass(tp):
        return f"mapping ({tp.__name__})"
    if origin is Partial:
        return f"mapping (part of {args[0].__name__})"
    return getattr(tp, "__name__", str(tp))


def _exact(value: Any, tp: Any) -> bool:
    """`value` already is of the plain type `tp` (bool is not an int, int is not a float)."""
    return isinstance(tp, type) and not is_dataclass(tp) and type(value) is tp


def _union(value: Any, args: tuple, key: str) -> Any:
    if any(_exact(value, a) or (value is None and a is type(None)) for a in args):
        return value  # an int stays an int in `float | int` (Lightning reads them differently)
    for arm in args:
        try:
            return convert(value, arm, key)
        except ConfigError:
            continue
    raise ConfigError(f"{key}: expected {' or '.join(type_name(a) for a in args)}, got {value!r}")


def _sequence(value: Any, origin: type, args: tuple, key: str) -> Any:
    if not isinstance(value, (list, tuple)):
        raise ConfigError(f"{key}: expected {type_name(origin[args] if args else origin)}, got {value!r}")
    if origin is tuple and args and args[-1] is not Ellipsis:
        if len(value) != len(args):
            raise ConfigError(f"{key}: expected {type_name(tuple[args])} ({len(args)} values), got {value!r}")
        return tuple(convert(v, a, f"{key}[{i}]") for i, (v, a) in enumerate(zip(value, args)))
    items = [convert(v, args[0], f"{key}[{i}]") if args else v for i, v in enumerate(value)]
    return tuple(items) if origin is tuple else items


def _mapping(value: Any, args: tuple, key: str) -> dict:
    if not isinstance(value, dict):
        raise ConfigError(f"{key}: expected a mapping, got {value!r}")
    key_type, value_type = args or (Any, Any)
    return {convert(k, key_type, key): convert(v, value_type, _join(key, str(k))) for k, v in value.items()}


def _scalar(value: Any, tp: type, key: str) -> Any:
    if _exact(value, tp):
        return value
    if tp is float and not isinstance(value, bool):
        if isinstance(value, int):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
    raise ConfigError(f"{key}: expected {type_name(tp)}, got {value!r}")


def convert(value: Any, tp: Any, key: str, partial: bool = False) -> Any:
    """`value` as type hint `tp`, or a :class:`ConfigError` naming `key` and the expected type.

    With `partial`, dataclass values are checked but left as mappings (a file that only
    holds its differences from a base is checked before the tree is complete).
    """
    origin, args = get_origin(tp), get_args(tp)
    if tp is Any:
        return value
    if is_dataclass(tp):
        return build(tp, value, key, partial)
    if origin is Partial:
        return build(args[0], value, key, partial=True)
    if origin in (Union, types.UnionType):
        sections = [a for a in args if is_dataclass(a)]
        if sections and isinstance(value, dict):  # an optional section: errors inside it name their key
            return build(sections[0], value, key, partial)
        return _union(value, args, key)
    if origin is Literal:
        if not any(type(value) is type(a) and value == a for a in args):
            raise ConfigError(f"{key}: expected {type_name(tp)}, got {value!r}")
        return value
    if origin in (tuple, list) or tp in (tuple, list):
        return _sequence(value, origin or tp, args, key)
    if origin is dict or tp is dict:
        return _mapping(value, args, key)
    if tp is type(None):
        if value is not None:
            raise ConfigError(f"{key}: expected null, got {value!r}")
        return None
    return _scalar(value, tp, key)


def field_types(cls: type) -> dict[str, Any]:
    """{field name: resolved type hint} of a dataclass."""
    hints = get_type_hints(cls)
    return {f.name: hints[f.name] for f in fields(cls) if f.init}


def unknown_key(key: str, name: str, valid: list[str]) -> ConfigError:
    """The error for a key the schema does not have, with the closest valid names."""
    close = difflib.get_close_matches(name, valid, n=3, cutoff=0.5)
    hint = f"did you mean {' or '.join(close)}?" if close else f"valid keys: {', '.join(valid)}"
    return ConfigError(f"{_join(key, name)}: unknown key ({hint})")


def build(cls: type, data: Any, key: str = "", partial: bool = False) -> Any:
    """An instance of dataclass `cls` from a mapping (None: all defaults), every value typed.

    With `partial`, returns the typed mapping instead of the instance (see :func:`convert`).
    """
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{key or cls.__name__}: expected a mapping ({cls.__name__}), got {data!r}")
    types_ = field_types(cls)
    values = {}
    for name, value in data.items():
        if name not in types_:
            raise unknown_key(key, str(name), list(types_))
        values[name] = convert(value, types_[name], _join(key, name), partial)
    if partial:
        return values
    try:
        return cls(**values)
    except (TypeError, ValueError) as e:  # a dataclass's own checks (__post_init__)
        raise ConfigError(f"{key}: {e}" if key else str(e)) from None


def to_plain(value: Any) -> Any:
    """Dataclasses to mappings and tuples to lists: YAML-safe data that :func:`build` reads back."""
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_plain(getattr(value, f.name)) for f in fields(value) if f.init}
    if isinstance(value, dict):
        return {k: to_plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_plain(v) for v in value]
    return value
