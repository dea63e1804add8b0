"""Catalogue names wherever weights are taken: `MicKey.from_pretrained("mickey")`, `--checkpoint mickey`,
`--dinov2-weights dinov2-vitl14`, `depth-prior --weights depth-anything-v2-small`.

The rule, in order: an existing path is local (`mapfree.weights.local`); a catalogue name is what
`mapfree weights download NAME` (or `import`) put in the cache, read from there and never fetched on the
way, a missing one being one MissingWeightsError naming the files, the folder searched and the two ways
to get them; anything else is a Hugging Face Hub repo id. A name of another kind (DINOv2 weights given
as a MicKey checkpoint) is one line. Write `./mickey` for a folder of that name that is not here.
"""

from __future__ import annotations

import os
from pathlib import Path

from mapfree.errors import InputError
from mapfree.weights.caches import status
from mapfree.weights.catalog import CATALOG, ZIP, WeightsEntry
from mapfree.weights.errors import missing_weights
from mapfree.weights.local import resolve_local_or_repo


def resolve_named(value: str | os.PathLike, kinds: tuple[str, ...], missing: str = "no such file or folder",
                  cache_dir: str | os.PathLike | None = None) -> tuple[str, bool]:
    """(what to load, whether it is local) for a weights argument: a local path, a catalogue name of one of
    `kinds` (its cached file or folder), or a Hub repo id; `missing` words a local path that is not there."""
    source, local = resolve_local_or_repo(value, missing)
    if local or source not in CATALOG:
        return source, local
    entry = CATALOG.get(source)
    if entry.kind not in kinds:
        raise InputError(f"{source}: catalogue weights of kind {entry.kind} ({entry.description}), "
                         f"not {' or '.join(kinds)} weights")
    return str(cached(entry, cache_dir)), True


def cached(entry: WeightsEntry, cache_dir: str | os.PathLike | None = None) -> Path:
    """What a model loads of an entry in its cache: the file (`url`), the first listed file of the folder
    (`zip`: `mickey.ckpt`, its `config.yaml` beside it), the snapshot folder (`hf`)."""
    found = status(entry, cache_dir)
    if not found.present:
        raise missing_weights(entry.name, entry.what, found.folder, entry.origin)
    return found.location / entry.files[0] if entry.source_type == ZIP else found.location
