"""Any matcher of `vismatch` (the image-matching-models project) as a baseline matcher: `vismatch:NAME`.

vismatch wraps many matchers behind `get_matcher(name)(img0, img1)`; its learned ones download
their weights on first use, and with no network they retry for about half a minute before failing.
So before a model is built, the weight files it reads are looked up where the code behind it looks
(the Hugging Face cache, the torch hub cache, or vismatch's own folder); when one is missing and the
network is not there, a one-line :class:`MissingWeightsError` names the model, the file, where it
looked and the command that fetches it. With the weights present and no network, vismatch's Hub
calls are kept to the cache, so they neither retry nor print.

`WEIGHTS` lists the files of the models this project compares (Table 1 of the seed) and a few
more. Another model is checked by the Hugging Face repo `vismatch/NAME` that `get_matcher` fetches
first: present once the model has run online.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mapfree.baselines.depth_sources import image_size, rescale
from mapfree.baselines.matches import Matches
from mapfree.data.items import views
from mapfree.errors import InputError, UserError
from mapfree.weights.errors import MissingWeightsError
from mapfree.weights.fetch import hf_cache, hub_checkpoints, hub_offline

log = logging.getLogger(__name__)

EXTRA_HINT = "pip install 'mapfree[matchers]'"

WEIGHT_FREE = frozenset({"sift-nn", "orb-nn"})
"""vismatch models that read no weights (OpenCV features, nearest-neighbour matching)."""


class VismatchImportError(UserError, ImportError):
    """vismatch is missing or cannot be imported (most often a torchvision built for another torch)."""


@dataclass(frozen=True)
class HubFile:
    """A file of a Hugging Face Hub repo (`file` None: the repo's snapshot, as `snapshot_download` takes it)."""

    repo: str
    file: str | None = None

    def location(self) -> Path:
        return hf_cache() / f"models--{self.repo.replace('/', '--')}"

    def present(self) -> bool:
        from huggingface_hub import try_to_load_from_cache

        if self.file is not None:
            return isinstance(try_to_load_from_cache(self.repo, self.file), str)
        return any((self.location() / "snapshots").glob("*/*"))

    def describe(self) -> str:
        return f"{self.file or 'the snapshot'} of the Hugging Face repo {self.repo}"

    def fetch(self) -> str:
        return f"hf download {self.repo}" + (f" {self.file}" if self.file else "")


@dataclass(frozen=True)
class UrlFile:
    """A file fetched from `url` into a folder: the torch hub cache (`folder` None) or one inside vismatch."""

    url: str
    name: str
    folder: str | None = None
    """Relative to the vismatch package, for files vismatch keeps beside its code."""

    def location(self) -> Path:
        if self.folder is None:
            return hub_checkpoints() / self.name
        return vismatch_dir() / self.folder / self.name

    def present(self) -> bool:
        return self.location().is_file()

    def describe(self) -> str:
        return self.name

    def fetch(self) -> str:
        return f"curl -L --create-dirs -o {self.location()} '{self.url}'"


WeightFile = HubFile | UrlFile

_SUPERGLUE = "https://github.com/magicleap/SuperGluePretrainedNetwork/raw/c0626d58c843ee0464b0fa1dd4de4059bfae0ab4/" \
             "models/weights/{}"
_SUPERGLUE_DIR = "third_party/imatch-toolbox/third_party/superglue/models/weights"
_LIGHTGLUE = "https://github.com/cvg/LightGlue/releases/download/v0.1_arxiv/{}.pth"
_ROMA = "https://github.com/Parskatt/storage/releases/download/roma/roma_outdoor.pth"
_DINOV2_L = "https://dl.fbaipublicfiles.com/dinov2/dinov2_vitl14/dinov2_vitl14_pretrain.pth"

WEIGHTS: dict[str, tuple[WeightFile, ...]] = {
    "loftr": (HubFile("kornia/loftr", "loftr_outdoor.ckpt"),),
    "superglue": (UrlFile(_SUPERGLUE.format("superglue_outdoor.pth"), "superglue_outdoor.pth", _SUPERGLUE_DIR),
                  UrlFile(_SUPERGLUE.format("superpoint_v1.pth"), "superpoint_v1.pth", _SUPERGLUE_DIR)),
    "aspanformer": (HubFile("vismatch/aspanformer", "outdoor.ckpt"),),
    "silk": (HubFile("vismatch/silk", "silk.safetensors"),),
    "dedode": (HubFile("vismatch/dedode", "dedode_detector_L_v2.safetensors"),
               HubFile("vismatch/dedode", "dedode_descriptor_G.safetensors")),
    "roma": (UrlFile(_ROMA, "roma_outdoor.pth"), UrlFile(_DINOV2_L, "dinov2_vitl14_pretrain.pth")),
    "romav2": (UrlFile("https://github.com/Parskatt/RoMaV2/releases/download/weights/romav2.pt", "romav2.pt"),),
    "disk-lightglue": (UrlFile("https://raw.githubusercontent.com/cvlab-epfl/disk/master/depth-save.pth",
                               "depth-save.pth"),
                       UrlFile(_LIGHTGLUE.format("disk_lightglue"), "disk_lightglue_v0-1_arxiv.pth")),
    "superpoint-lightglue": (UrlFile(_LIGHTGLUE.format("superpoint_v1"), "superpoint_v1.pth"),
                             UrlFile(_LIGHTGLUE.format("superpoint_lightglue"), "superpoint_lightglue_v0-1_arxiv.pth")),
    "master": (HubFile("naver/MASt3R_ViTLarge_BaseDecoder_512_catmlpdpt_metric"),),
}
"""Weight files of vismatch 1.4 models, where the code behind each looks for them."""


def vismatch_dir() -> Path:
    """The installed vismatch package folder, found without importing it (its import is slow)."""
    spec = importlib.util.find_spec("vismatch")
    if spec is None or not spec.submodule_search_locations:
        raise VismatchImportError(f"the vismatch matchers need the vismatch package (not installed): {EXTRA_HINT}")
    return Path(next(iter(spec.submodule_search_locations)))


def weight_files(name: str) -> tuple[WeightFile, ...]:
    """What model `name` reads: nothing for weight-free models, else `WEIGHTS` or its `vismatch/NAME` repo."""
    if name in WEIGHT_FREE:
        return ()
    return WEIGHTS.get(name, (HubFile(f"vismatch/{name}"),))


def missing_weights(name: str) -> list[WeightFile]:
    """The weight files of model `name` not on this machine (looks in caches only, never the network)."""
    return [f for f in weight_files(name) if not f.present()]


def check_weights(name: str) -> str | None:
    """Before vismatch builds model `name`: MissingWeightsError (one line) when a weight file is missing and
    the network is not there; otherwise why Hub calls must stay in the cache (None: online). With every
    file on this machine the network is neither probed nor used."""
    missing = missing_weights(name)
    if not missing:
        return "every weight file is on this machine"
    offline = hub_offline()
    if offline is not None:
        files = ", ".join(f"{f.describe()} (looked in {f.location()})" for f in missing)
        fetch = " && ".join(f.fetch() for f in missing)
        raise MissingWeightsError(f"vismatch:{name} needs {files} and cannot download it ({offline}); "
                                  f"run `{fetch}` where the network is available")
    return offline


def import_vismatch() -> Any:
    """The vismatch module; a one-line VismatchImportError when it is absent or does not import."""
    vismatch_dir()
    try:
        import vismatch
    except (ImportError, RuntimeError) as e:
        reason = " ".join(str(e).split())[:200]
        raise VismatchImportError(
            f"importing vismatch failed ({type(e).__name__}: {reason}); torchvision must be the build made for "
            f"the installed torch {torch.__version__}: reinstall torch and torchvision together from the same "
            "index (e.g. pip install torch torchvision --index-url https://download.pytorch.org/whl/cpu)"
        ) from None
    return vismatch


@contextlib.contextmanager
def hub_cache_only(offline: str | None) -> Iterator[None]:
    """While building a model with no network: huggingface_hub answers from its cache at once (its offline
    flag, read at import, is set for the duration), and vismatch's notices on stdout go to the debug log."""
    if offline is None:
        yield
        return
    from huggingface_hub import constants

    saved, constants.HF_HUB_OFFLINE = constants.HF_HUB_OFFLINE, True
    printed = io.StringIO()
    try:
        with contextlib.redirect_stdout(printed):
            yield
    finally:
        constants.HF_HUB_OFFLINE = saved
        if printed.getvalue().strip():
            log.debug("vismatch: %s", " ".join(printed.getvalue().split()))


class VismatchMatcher:
    """vismatch model `model` on a pair item's two images; matches in the item's own image pixels.

    `size` (W, H): both images are resized to it first (None: matched as they are; most models
    resize internally and return the input's pixels), and the matches are mapped back. Scores are
    the model's match confidences, or 1 for models without one.
    """

    def __init__(self, model: str, device: str = "cpu", size: tuple[int, int] | None = None,
                 max_keypoints: int = 2048):
        self.name = f"vismatch:{model}"
        self.size = size
        self.device = device
        # Listed models are checked before the (slow) import; others once vismatch says the name exists.
        listed = model in WEIGHTS or model in WEIGHT_FREE
        offline = check_weights(model) if listed else None
        vismatch = import_vismatch()
        if model not in vismatch.available_models:
            choices = ", ".join(sorted(vismatch.available_models))
            raise InputError(f"vismatch has no matcher {model!r}; it has {choices}")
        if not listed:
            offline = check_weights(model)
        with hub_cache_only(offline):
            self.model = vismatch.get_matcher(model, device=device, max_num_keypoints=max_keypoints)

    def resized(self, image: Any) -> torch.Tensor:
        x = torch.as_tensor(image).float()
        if self.size is None or tuple(x.shape[-2:]) == self.size[::-1]:
            return x
        return torch.nn.functional.interpolate(x[None], size=self.size[::-1], mode="bilinear", antialias=True,
                                               align_corners=False)[0].clamp(0, 1)

    def __call__(self, item: Mapping[str, Any]) -> Matches:
        v0, v1 = views(item)
        out = self.model(self.resized(v0["image"]).to(self.device), self.resized(v1["image"]).to(self.device))
        k0, k1 = (np.asarray(out[f"matched_kpts{i}"], np.float64).reshape(-1, 2) for i in (0, 1))
        if self.size is not None:
            k0, k1 = rescale(k0, self.size, image_size(item, 0)), rescale(k1, self.size, image_size(item, 1))
        return Matches.create(k0, k1, out["matched_confidences"])
