"""Store-wide metadata: which teacher made the targets, what they mean and at which size."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from mapfree.atomic import json_text, write_text_atomic
from mapfree.errors import InputError

FORMAT = "mapfree-depth-prior/1"
RELATIVE_INVERSE_DEPTH = "relative_inverse_depth"
METRIC_DEPTH = "metric_depth"
SEED_8BIT_RELATIVE = "seed_8bit_relative"
"""A relative teacher's map as the seed paper used it: per frame min-max to 0-255, truncated to uint8, / 255."""
UNITS = {
    RELATIVE_INVERSE_DEPTH: "affine-invariant inverse depth (unknown scale and shift)",
    METRIC_DEPTH: "m",
    SEED_8BIT_RELATIVE: "relative inverse depth min-max normalised per frame, 8-bit truncated, divided by 255",
}
META_FILE = "prior.json"


@dataclass(frozen=True)
class PriorMeta:
    """Everything needed to interpret a store; two runs may only share a store if these agree.

    `image_size` is the (width, height) the images were resized to before cropping (MicKey's
    loader size), or None for each frame's native size.
    """

    teacher: str
    quantity: str
    weights: str | None = None
    image_size: tuple[int, int] | None = None
    patch_size: int = 14
    crop: str = "top-left: right/bottom pixels dropped to a multiple of patch_size (MicKey)"
    min_valid_fraction: float = 0.5
    dense: bool = False
    teacher_config: dict[str, Any] = field(default_factory=dict)
    format: str = FORMAT

    def __post_init__(self) -> None:
        if self.quantity not in UNITS:
            raise ValueError(f"quantity must be one of {sorted(UNITS)}, got {self.quantity!r}")
        # Normalise to what JSON gives back, so a store's metadata compares equal to a new run's.
        if self.image_size is not None:
            object.__setattr__(self, "image_size", tuple(int(v) for v in self.image_size))
        object.__setattr__(self, "teacher_config", json.loads(json.dumps(self.teacher_config)))

    @property
    def units(self) -> str:
        return UNITS[self.quantity]

    def to_json(self) -> str:
        data = asdict(self)
        data["units"] = self.units
        return json_text(data, indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str, source: str | Path = "<string>") -> PriorMeta:
        try:
            data = json.loads(text)
            if data.get("format") != FORMAT:
                raise ValueError(f"format {data.get('format')!r} is not {FORMAT!r}")
            data.pop("units", None)
            return cls(**data)
        except (ValueError, TypeError) as e:
            raise InputError(f"{source}: not a depth-prior metadata file ({e})") from None


def read_meta(root: str | Path) -> PriorMeta:
    """The metadata of the store at `root`; FileNotFoundError if it is not a store."""
    path = Path(root) / META_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no depth-prior store here (metadata file missing)")
    return PriorMeta.from_json(path.read_text(encoding="utf-8"), path)


def ensure_meta(root: str | Path, meta: PriorMeta) -> None:
    """Create the store's metadata, or check that an existing store was made the same way.

    Ranks of one launch may race here: each writes the same text through an atomic rename.
    """
    root = Path(root)
    path = root / META_FILE
    if path.is_file():
        existing = read_meta(root)
        if existing != meta:
            old, new = asdict(existing), asdict(meta)
            diff = ", ".join(f"{k}: {old[k]!r} in store vs {new[k]!r} now" for k in old if old[k] != new[k])
            raise InputError(f"{path}: this store was made with other settings ({diff}); use another --out")
        return
    write_text_atomic(path, meta.to_json())
