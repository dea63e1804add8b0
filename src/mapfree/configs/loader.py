"""Reading a configuration tree: YAML files that name their bases, then `key=value` overrides.

A file may start from other files: `base: mickey` or `base: [synthetic_cpu, ../mine.yaml]`
(a path relative to the file, else a packaged configuration by name). Bases merge in order,
then the file's own values on top; mappings merge key by key, anything else is replaced.
Every file is checked against the schema on its own, so an error names the file it is in.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import is_dataclass
from pathlib import Path
from typing import Any, TypeVar, get_args

import yaml

from mapfree.configs import config_path
from mapfree.configs.safe_yaml import load_yaml, read_yaml_file
from mapfree.configs.typed import ConfigError, build, convert, field_types, unknown_key

BASE_KEY = "base"
MAX_BASE_DEPTH = 16
"""Most files in one chain of `base:` references (the packaged configurations use three)."""
T = TypeVar("T")


def deep_merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    """`top` over `base`: nested mappings merge, other values (lists included) replace."""
    out = dict(base)
    for key, value in top.items():
        out[key] = deep_merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def _read_yaml(path: Path) -> dict[str, Any]:
    data = read_yaml_file(path) or {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of sections, got {type(data).__name__}")
    return data


def _base_path(name: str, parent: Path) -> Path:
    """A base named by a file: relative to the naming file if it exists there, else packaged."""
    for candidate in (parent / name, parent / f"{name}.yaml"):
        if candidate.is_file():
            return candidate
    return config_path(name)


def read_tree(cls: type, name_or_path: str | Path, _seen: tuple[Path, ...] = (),
              _done: dict[Path, dict[str, Any]] | None = None) -> dict[str, Any]:
    """The merged plain data of a config file and its bases, each file checked against `cls`.

    Each file is read and checked once per call (`_done` holds the merged tree of every file done, so a
    base shared by many files costs nothing more), and bases nest at most :data:`MAX_BASE_DEPTH` deep.
    """
    path = config_path(name_or_path)
    key = path.resolve()
    if key in _seen:
        raise ConfigError(f"{path}: base cycle through {' -> '.join(str(p) for p in _seen)}")
    if len(_seen) >= MAX_BASE_DEPTH:
        raise ConfigError(f"{path}: bases nest more than {MAX_BASE_DEPTH} deep: {' -> '.join(map(str, _seen))}")
    _done = {} if _done is None else _done
    if key not in _done:
        _done[key] = _merged_tree(cls, path, (*_seen, key), _done)
    return _done[key]


def _merged_tree(cls: type, path: Path, chain: tuple[Path, ...], done: dict[Path, dict[str, Any]]) -> dict[str, Any]:
    """One file's data over its merged bases (`chain`: the files from the first one loaded down to this one)."""
    data = _read_yaml(path)
    bases = data.pop(BASE_KEY, [])
    if isinstance(bases, str):
        bases = [bases]
    if not isinstance(bases, list) or not all(isinstance(b, str) for b in bases):
        raise ConfigError(f"{path}: base: expected a config name or a list of them, got {bases!r}")
    try:
        build(cls, data, partial=True)
    except ConfigError as e:
        raise ConfigError(f"{path}: {e}") from None
    merged: dict[str, Any] = {}
    for base in bases:
        merged = deep_merge(merged, read_tree(cls, _base_path(base, path.parent), chain, done))
    return deep_merge(merged, data)


def _field_type(cls: type, parts: list[str]) -> Any:
    """The type hint at a dotted path through nested (possibly optional) dataclasses."""
    tp: Any = cls
    for i, part in enumerate(parts):
        section = next((s for s in (tp, *get_args(tp)) if isinstance(s, type) and is_dataclass(s)), None)
        if section is None:
            raise ConfigError(f"{'.'.join(parts[:i])}: not a section, it has no key {part!r}")
        types_ = field_types(section)
        if part not in types_:
            raise unknown_key(".".join(parts[:i]), part, list(types_))
        tp = types_[part]
    return tp


def apply_overrides(cls: type, data: dict[str, Any], overrides: Iterable[str]) -> dict[str, Any]:
    """Set `section.key=value` items (values read as YAML, checked against the field's type)."""
    for item in overrides:
        key, sep, text = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"override must look like section.key=value, got {item!r}")
        value = load_yaml(text, f"override {key}")
        parts = key.split(".")
        try:
            convert(value, _field_type(cls, parts), key, partial=True)
        except ConfigError as e:
            raise ConfigError(f"override {e}") from None
        for part in reversed(parts):
            value = {part: value}
        data = deep_merge(data, value)
    return data


def as_overrides(data: dict[str, Any], prefix: str = "") -> list[str]:
    """The `section.key=value` overrides that set a (partial) tree: the inverse of :func:`apply_overrides`."""
    out: list[str] = []
    for key, value in data.items():
        if isinstance(value, dict) and value:
            out += as_overrides(value, f"{prefix}{key}.")
        else:
            text = yaml.safe_dump(value, default_flow_style=True, width=float("inf")).removesuffix("...\n").strip()
            out.append(f"{prefix}{key}={text}")
    return out


def load(cls: type[T], name_or_path: str | Path, overrides: Iterable[str] = (),
         deltas: Iterable[dict[str, Any]] = ()) -> T:
    """A `cls` from a YAML file or packaged name (with its bases), then `deltas` (typed partial trees, see
    :class:`~mapfree.configs.typed.Partial`) deep-merged in order, then `key=value` overrides."""
    path = config_path(name_or_path)
    data = read_tree(cls, path)
    for delta in deltas:
        data = deep_merge(data, delta)
    data = apply_overrides(cls, data, overrides)
    try:
        return build(cls, data)
    except ConfigError as e:
        raise ConfigError(f"{path}: {e}") from None
