"""Learned matchers from kornia (LoFTR, DISK, DISK + LightGlue, DeDoDe) and RoMa (`romatch`).

Nothing is downloaded here: each matcher names the weight files it needs and looks for them in
`weights_dir` (when given) and in torch's hub cache (`$TORCH_HOME/hub/checkpoints`, where
kornia keeps its downloads and `mapfree weights download` puts them). A missing file or package
raises :class:`MissingWeightsError` or :class:`MissingPackageError` naming it, the folders searched
and the command that fetches it.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from mapfree.baselines.matches import Matches, to_uint8_gray, to_uint8_rgb
from mapfree.data.items import views
from mapfree.errors import InputError, UserError
from mapfree.weights.errors import MissingWeightsError, fetch_command
from mapfree.weights.fetch import hub_checkpoints
from mapfree.weights.loading import load_torch_file


class MissingPackageError(UserError, FileNotFoundError):
    """A matcher needs a pip package that is not installed (an OSError, like a missing weights
    file, so the CLI reports both as plain errors)."""


@dataclass(frozen=True)
class WeightFile:
    """A weight file a matcher needs: its file name, its `mapfree weights` catalogue entry, and other
    names it may have on disk (e.g. the name kornia gives it in the hub cache)."""

    name: str
    entry: str
    aliases: tuple[str, ...] = ()


def find_weights(weights: WeightFile, weights_dir: str | Path | None, matcher: str) -> Path:
    """Path of `weights.name` in `weights_dir` or the torch hub cache; MissingWeightsError if absent."""
    folders = ([Path(weights_dir)] if weights_dir is not None else []) + [hub_checkpoints()]
    for folder in folders:
        for name in (weights.name, *weights.aliases):
            if (folder / name).is_file():
                return folder / name
    searched = ", ".join(str(f) for f in folders)
    raise MissingWeightsError(
        f"matcher {matcher!r} needs the weights file {weights.name!r}, not found in {searched}: "
        f"run `{fetch_command(weights.entry)}` (or pass a folder holding it as --weights-dir)"
    )


def require_package(module: str, matcher: str) -> None:
    if importlib.util.find_spec(module) is None:
        raise MissingPackageError(f"matcher {matcher!r} needs the Python package {module!r}: pip install {module}")


class LearnedMatcher:
    """A matcher built from local weight files (and possibly an optional package)."""

    name: ClassVar[str]
    files: ClassVar[tuple[WeightFile, ...]]
    package: ClassVar[str | None] = None
    """Pip package (same name as its module) the matcher imports, when not a project dependency."""

    @classmethod
    def locate(cls, weights_dir: str | Path | None = None) -> list[Path]:
        """Paths of `files`, in order; MissingPackageError / MissingWeightsError naming what is absent."""
        if cls.package is not None:
            require_package(cls.package, cls.name)
        return [find_weights(f, weights_dir, cls.name) for f in cls.files]


def load_weights(path: Path, key: str | None = None) -> dict[str, torch.Tensor]:
    """A state dict from a checkpoint file (optionally nested under `key`), tensors only; an
    InputError naming the file when it is unreadable or not a state dict."""
    state = load_torch_file(path)
    if key is not None and isinstance(state, dict):
        if key not in state:
            raise InputError(f"{path}: checkpoint has no {key!r} entry (keys: {sorted(map(str, state))[:5]})")
        state = state[key]
    if not isinstance(state, dict):
        raise InputError(f"{path}: not a state dict of weights ({type(state).__name__})")
    return state


def gray_batch(image: Any, device: torch.device) -> torch.Tensor:
    """(3, H, W) RGB in [0, 1] to a (1, 1, H, W) float grayscale batch."""
    return torch.from_numpy(to_uint8_gray(image)).float().div(255.0)[None, None].to(device)


def rgb_batch(image: Any, device: torch.device) -> torch.Tensor:
    return torch.as_tensor(image).float()[None].to(device)


class LoFTRMatcher(LearnedMatcher):
    """kornia's LoFTR (outdoor weights: Map-free scenes are outdoors), on grayscale images."""

    name = "loftr"
    files = (WeightFile("loftr_outdoor.ckpt", "loftr-outdoor"),)

    def __init__(self, weights_dir: str | Path | None = None, device: str = "cpu"):
        from kornia.feature import LoFTR

        (path,) = self.locate(weights_dir)
        self.device = torch.device(device)
        self.model = LoFTR(pretrained=None)
        self.model.load_state_dict(load_weights(path, "state_dict"))
        self.model.eval().to(self.device)

    @torch.inference_mode()
    def __call__(self, item: Mapping[str, Any]) -> Matches:
        out = self.model({f"image{i}": gray_batch(view["image"], self.device) for i, view in enumerate(views(item))})
        # kornia's LoFTR puts pixel centres at +0.5 (see its docs); ours are at integers.
        return Matches.create(out["keypoints0"] - 0.5, out["keypoints1"] - 0.5, out["confidence"])


DISK_WEIGHTS = WeightFile("depth-save.pth", "disk-depth")


def load_disk(path: Path, device: torch.device) -> torch.nn.Module:
    """kornia's DISK with the released "depth" weights, in eval mode on `device`."""
    from kornia.feature import DISK

    disk = DISK()
    disk.load_state_dict(load_weights(path, "extractor"))
    return disk.eval().to(device)


def mutual_nearest(d0: torch.Tensor, d1: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mutual nearest neighbours of descriptors (N0, D), (N1, D): index pairs (M, 2) and their cosine
    similarity (M,), which ranks them (descriptors are unit-normalised first)."""
    from kornia.feature import match_mnn

    d0, d1 = torch.nn.functional.normalize(d0, dim=-1), torch.nn.functional.normalize(d1, dim=-1)
    dist, idx = match_mnn(d0, d1)
    return idx, 1.0 - dist[:, 0] ** 2 / 2  # unit descriptors: |a - b|^2 = 2 - 2 cos


class DiskMatcher(LearnedMatcher):
    """kornia's DISK ("depth" weights) matched by mutual nearest neighbours: Map-free's "DPT & DISK" matcher."""

    name = "disk"
    files = (DISK_WEIGHTS,)

    def __init__(self, weights_dir: str | Path | None = None, device: str = "cpu", max_keypoints: int = 2048):
        (path,) = self.locate(weights_dir)
        self.device = torch.device(device)
        self.max_keypoints = max_keypoints
        self.disk = load_disk(path, self.device)

    @torch.inference_mode()
    def __call__(self, item: Mapping[str, Any]) -> Matches:
        f0, f1 = (self.disk(rgb_batch(view["image"], self.device), n=self.max_keypoints, pad_if_not_divisible=True)[0]
                  for view in views(item))
        if len(f0.keypoints) == 0 or len(f1.keypoints) == 0:
            return Matches.create(np.zeros((0, 2)), np.zeros((0, 2)), np.zeros(0))
        idx, cosine = mutual_nearest(f0.descriptors, f1.descriptors)
        return Matches.create(f0.keypoints[idx[:, 0]], f1.keypoints[idx[:, 1]], cosine)


class DiskLightGlueMatcher(LearnedMatcher):
    """kornia's DISK ("depth" weights) keypoints matched by LightGlue."""

    name = "disk-lightglue"
    files = (
        DISK_WEIGHTS,
        # kornia's hub cache (and `mapfree weights download`) keeps LightGlue's DISK weights under the alias.
        WeightFile("disk_lightglue.pth", "lightglue-disk", aliases=("disk_lightglue_v0-1_arxiv-pth",)),
    )

    def __init__(self, weights_dir: str | Path | None = None, device: str = "cpu", max_keypoints: int = 2048):
        from kornia.feature import LightGlue

        disk_path, glue_path = self.locate(weights_dir)
        self.device = torch.device(device)
        self.max_keypoints = max_keypoints
        self.disk = load_disk(disk_path, self.device)
        self.glue = LightGlue(features=None, **{k: v for k, v in LightGlue.features["disk"].items() if k != "weights"})
        state = lightglue_state_dict(load_weights(glue_path), self.glue.conf.n_layers)
        # Released files lack derived buffers (kornia loads them non-strictly too); weights must all be there.
        missing = set(self.glue.load_state_dict(state, strict=False).missing_keys)
        missing &= {name for name, _ in self.glue.named_parameters()}
        if missing:
            raise InputError(f"{glue_path}: not LightGlue DISK weights, missing {sorted(missing)[:3]}")
        self.glue.eval().to(self.device)

    @torch.inference_mode()
    def __call__(self, item: Mapping[str, Any]) -> Matches:
        images = [rgb_batch(view["image"], self.device) for view in views(item)]
        f0, f1 = (self.disk(x, n=self.max_keypoints, pad_if_not_divisible=True)[0] for x in images)
        if len(f0.keypoints) == 0 or len(f1.keypoints) == 0:
            return Matches.create(np.zeros((0, 2)), np.zeros((0, 2)), np.zeros(0))
        out = self.glue({
            f"image{i}": {
                "keypoints": f.keypoints[None],
                "descriptors": f.descriptors[None],
                "image_size": torch.tensor([[x.shape[-1], x.shape[-2]]], device=self.device),  # (W, H)
            }
            for i, (f, x) in enumerate(zip((f0, f1), images))
        })
        idx = out["matches"][0]
        return Matches.create(f0.keypoints[idx[:, 0]], f1.keypoints[idx[:, 1]], out["scores"][0])


def lightglue_state_dict(state: dict[str, torch.Tensor], n_layers: int) -> dict[str, torch.Tensor]:
    """The released LightGlue keys (`self_attn.i`, `cross_attn.i`) renamed to kornia's `transformers.i.*`."""
    renamed = {}
    for key, value in state.items():
        for i in range(n_layers):
            for block in ("self_attn", "cross_attn"):
                if key.startswith(f"{block}.{i}."):
                    key = f"transformers.{i}.{block}." + key[len(f"{block}.{i}."):]
        renamed[key] = value
    return renamed


class DeDoDeMatcher(LearnedMatcher):
    """kornia's DeDoDe (L-upright detector, B-upright descriptor), mutual nearest neighbours."""

    name = "dedode"
    files = (
        WeightFile("dedode_detector_L.pth", "dedode-detector-l"),
        WeightFile("dedode_descriptor_B.pth", "dedode-descriptor-b"),
    )

    def __init__(self, weights_dir: str | Path | None = None, device: str = "cpu", max_keypoints: int = 5000):
        from kornia.feature import DeDoDe

        detector, descriptor = self.locate(weights_dir)
        self.device = torch.device(device)
        self.max_keypoints = max_keypoints
        self.model = DeDoDe(detector_model="L", descriptor_model="B", amp_dtype=torch.float16)
        self.model.detector.load_state_dict(load_weights(detector))
        self.model.descriptor.load_state_dict(load_weights(descriptor))
        self.model.eval().to(self.device)

    @torch.inference_mode()
    def __call__(self, item: Mapping[str, Any]) -> Matches:
        (k0, _, d0), (k1, _, d1) = (self.model(rgb_batch(view["image"], self.device), n=self.max_keypoints)
                                    for view in views(item))
        idx, cosine = mutual_nearest(d0[0], d1[0])
        # DeDoDe's pixel coordinates put pixel centres at +0.5; ours are at integers.
        return Matches.create(k0[0][idx[:, 0]] - 0.5, k1[0][idx[:, 1]] - 0.5, cosine)


class RoMaMatcher(LearnedMatcher):
    """RoMa (outdoor weights) through the `romatch` package: dense warp, then sampled matches."""

    name = "roma"
    package = "romatch"
    files = (
        WeightFile("roma_outdoor.pth", "roma-outdoor"),
        WeightFile("dinov2_vitl14_pretrain.pth", "dinov2-vitl14"),
    )

    def __init__(self, weights_dir: str | Path | None = None, device: str = "cpu", num_matches: int = 5000):
        roma_path, dinov2_path = self.locate(weights_dir)
        from romatch import roma_outdoor

        weights, dinov2 = load_weights(roma_path), load_weights(dinov2_path)
        self.device = torch.device(device)
        self.num_matches = num_matches
        self.model = roma_outdoor(device=self.device, weights=weights, dinov2_weights=dinov2)

    @torch.inference_mode()
    def __call__(self, item: Mapping[str, Any]) -> Matches:
        from PIL import Image

        pil = [Image.fromarray(to_uint8_rgb(view["image"])) for view in views(item)]
        warp, certainty = self.model.match(pil[0], pil[1], device=self.device)
        matches, certainty = self.model.sample(warp, certainty, num=self.num_matches)
        (w0, h0), (w1, h1) = pil[0].size, pil[1].size
        k0, k1 = self.model.to_pixel_coordinates(matches, h0, w0, h1, w1)
        # RoMa's pixel coordinates span [0, W] (centres at +0.5); ours put centres at integers.
        return Matches.create(k0 - 0.5, k1 - 0.5, certainty)
