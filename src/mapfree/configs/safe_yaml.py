"""The one YAML reader of the package: safe tags only, and bounded work for any input.

`yaml.safe_load` builds no Python objects, but anchors and aliases still let a few hundred bytes stand
for billions of values (a "billion laughs"): the loaded tree shares them, and whatever walks it (merging,
type checks, an error message) expands them. So a document is refused, with one line naming its source,
when its tree would hold more than :data:`MAX_NODES` values once aliases are expanded, when it nests more
deeply than the parser can follow, and, for files, when the file is larger than :data:`MAX_FILE_BYTES`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from mapfree.configs.typed import ConfigError
from mapfree.errors import decode_utf8

MAX_FILE_BYTES = 1 << 20
"""Largest configuration file read (1 MiB; the packaged ones are a few KiB)."""

MAX_NODES = 100_000
"""Most values (scalars, sequences, mappings) a document may hold with every alias expanded."""


def expanded_size(root: yaml.Node) -> int:
    """The number of nodes under `root` with every alias expanded, counted once per distinct node."""
    sizes: dict[int, int] = {}
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:  # iterative post-order: deep documents must not exhaust the Python stack here
        node, children_done = stack.pop()
        if id(node) in sizes:
            continue
        children = _children(node)
        if children_done or not children:
            sizes[id(node)] = 1 + sum(sizes[id(child)] for child in children)
            continue
        stack.append((node, True))
        stack.extend((child, False) for child in children if id(child) not in sizes)
    return sizes[id(root)]


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []


class _BoundedLoader(yaml.SafeLoader):
    """`yaml.SafeLoader` that measures a document's expanded size before building any value of it."""

    def construct_document(self, node: yaml.Node) -> Any:
        if (size := expanded_size(node)) > MAX_NODES:
            raise ConfigError(f"{self.name}: YAML aliases expand to more than {MAX_NODES:,} values "
                              f"({size:,}); write the values out instead of repeating anchors")
        return super().construct_document(node)


def load_yaml(text: str, source: str) -> Any:
    """The value of a YAML document; ConfigError naming `source` when it is invalid or too large once expanded."""
    loader = _BoundedLoader(text)
    loader.name = source
    try:
        return loader.get_single_data()
    except yaml.YAMLError as e:
        raise ConfigError(f"{source}: not valid YAML: {' '.join(str(e).split())}") from None
    except RecursionError:
        raise ConfigError(f"{source}: YAML nested too deeply") from None
    finally:
        loader.dispose()


def read_yaml_file(path: Path) -> Any:
    """The value of a YAML file; FileNotFoundError when missing, ConfigError naming it when larger than
    :data:`MAX_FILE_BYTES` or invalid (see :func:`load_yaml`); EncodingError naming it, the line and the byte
    offset when it is not UTF-8."""
    if not path.is_file():
        raise FileNotFoundError(f"config not found: {path}")
    if (size := path.stat().st_size) > MAX_FILE_BYTES:
        raise ConfigError(f"{path}: {size:,} bytes, larger than a configuration file may be "
                          f"({MAX_FILE_BYTES:,} bytes)")
    return load_yaml(decode_utf8(path.read_bytes(), path), str(path))
