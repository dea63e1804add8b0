"""Every published weights file mapfree can use, with where it comes from and where it is cached.

Three kinds of source:

- `url`: one file fetched with `torch.hub.download_url_to_file` into the torch hub cache
  (`torch.hub.get_dir()/checkpoints`), under the name the library that reads it looks for
  (the MicKey reference and kornia both call `torch.hub.load_state_dict_from_url`);
- `zip`: an archive fetched the same way and unpacked into a folder of that cache;
- `hf`: a Hugging Face Hub model repo fetched with `huggingface_hub.snapshot_download` into the
  Hugging Face cache, where `transformers`' `from_pretrained` finds it.

`sha256` is set only where the publisher states the file's hash; no source here does, so every
entry says "none published" and a download is checked by loading it instead. `licence` is the licence
the weights come under (NOTICE has the details); `EXTRAS` names the extra whose commands use each kind.
Stdlib only: `mapfree weights list` runs in the core install.
"""

from __future__ import annotations

from dataclasses import dataclass

from mapfree.registry import Registry

URL, ZIP, HF = "url", "zip", "hf"
SEE_NOTICE = "see NOTICE"
EXTRAS = {"mickey": "baselines", "dinov2": "baselines", "matcher": "baselines", "hub": "baselines",
          "far": "baselines", "rpr": "baselines", "depth-anything": "depth", "dpt": "depth"}
"""Kind -> the extra (`pip install 'mapfree[EXTRA]'`) of the commands that load such weights."""

MICKEY_ZIP = "https://storage.googleapis.com/niantic-lon-static/research/mickey/assets/mickey_weights.zip"
DINOV2_URL = "https://dl.fbaipublicfiles.com/dinov2/dinov2_{size}/dinov2_{size}_pretrain.pth"
KORNIA_HF = "https://huggingface.co/kornia/{repo}/resolve/main/{file}"


@dataclass(frozen=True)
class WeightsEntry:
    """One downloadable set of weights.

    `target` is the file name (`url`) or folder name (`zip`) in the torch hub checkpoints folder;
    `files` are what a `zip` entry must hold once unpacked, the first being the one a model loads;
    `sha256` the published hash, if any.
    """

    name: str
    kind: str
    source_type: str
    source: str
    description: str
    licence: str = SEE_NOTICE
    target: str | None = None
    files: tuple[str, ...] = ()
    sha256: str | None = None

    @property
    def checksum(self) -> str:
        return f"sha256 {self.sha256}" if self.sha256 else "none published"

    @property
    def what(self) -> str:
        """The files this entry puts in its cache, for messages."""
        if self.source_type == URL:
            return str(self.target)
        if self.source_type == ZIP:
            return ", ".join(self.files)
        return f"config.json and the weights of {self.source}"

    @property
    def origin(self) -> str:
        """Where a copy comes from, for messages: the URL, or the Hub repo."""
        return f"the Hub repo {self.source}" if self.source_type == HF else self.source

    @property
    def extra(self) -> str:
        return EXTRAS[self.kind]


CATALOG: Registry[WeightsEntry] = Registry("weights")


def add(entry: WeightsEntry) -> None:
    CATALOG.add(entry.name, entry)


def dinov2_entry(size: str) -> str:
    """The catalogue name of DINOv2 `size` ("vitl14", ...)."""
    return f"dinov2-{size}"


add(WeightsEntry("mickey", "mickey", ZIP, MICKEY_ZIP,
                 "released MicKey weights (mickey.ckpt, mickey_sc.ckpt) + config.yaml",
                 "Niantic non-commercial", target="mickey", files=("mickey.ckpt", "config.yaml")))
for _size, _label in (("vits14", "ViT-S/14"), ("vitb14", "ViT-B/14"), ("vitl14", "ViT-L/14"), ("vitg14", "ViT-G/14")):
    add(WeightsEntry(dinov2_entry(_size), "dinov2", URL, DINOV2_URL.format(size=_size),
                     f"DINOv2 {_label} backbone (MicKey uses ViT-L)", "Apache-2.0",
                     target=f"dinov2_{_size}_pretrain.pth"))
_SIZES = ("small", "base", "large")
for _size in _SIZES:
    add(WeightsEntry(f"depth-anything-v1-{_size}", "depth-anything", HF, f"LiheYoung/depth-anything-{_size}-hf",
                     f"Depth Anything V1 {_size}, relative inverse depth", "Apache-2.0"))
for _size in _SIZES:
    add(WeightsEntry(f"depth-anything-v2-{_size}", "depth-anything", HF,
                     f"depth-anything/Depth-Anything-V2-{_size.capitalize()}-hf",
                     f"Depth Anything V2 {_size}, relative inverse depth",
                     "Apache-2.0" if _size == "small" else "CC-BY-NC-4.0"))
for _scene in ("indoor", "outdoor"):
    for _size in _SIZES:
        add(WeightsEntry(f"depth-anything-v2-metric-{_scene}-{_size}", "depth-anything", HF,
                         f"depth-anything/Depth-Anything-V2-Metric-{_scene.capitalize()}-{_size.capitalize()}-hf",
                         f"Depth Anything V2 {_size}, metric depth ({_scene})",
                         "Apache-2.0" if _size == "small" else SEE_NOTICE))
add(WeightsEntry("dpt-large", "dpt", HF, "Intel/dpt-large", "DPT-Large (MiDaS 3.0), relative inverse depth",
                 "Apache-2.0"))
add(WeightsEntry("dpt-hybrid-midas", "dpt", HF, "Intel/dpt-hybrid-midas",
                 "DPT-Hybrid (MiDaS 3.0), relative inverse depth", "Apache-2.0"))
for _name, _repo, _file, _target, _what in (
    ("loftr-outdoor", "loftr", "loftr_outdoor.ckpt", "loftr_outdoor.ckpt", "LoFTR outdoor (kornia)"),
    ("disk-depth", "disk", "depth-save.pth", "depth-save.pth", "DISK depth weights (kornia)"),
    ("lightglue-disk", "lightglue", "disk_lightglue.pth", "disk_lightglue_v0-1_arxiv-pth",
     "LightGlue for DISK (kornia)"),
    ("dedode-detector-l", "dedode", "dedode_detector_L.pth", "dedode_detector_L.pth", "DeDoDe L detector (kornia)"),
    ("dedode-descriptor-b", "dedode", "dedode_descriptor_B.pth", "dedode_descriptor_B.pth",
     "DeDoDe B descriptor (kornia)"),
):
    add(WeightsEntry(_name, "matcher", URL, KORNIA_HF.format(repo=_repo, file=_file), _what, target=_target))
add(WeightsEntry("roma-outdoor", "matcher", URL,
                 "https://github.com/Parskatt/storage/releases/download/romatch/roma_outdoor.pth",
                 "RoMa outdoor (romatch; also needs dinov2-vitl14)", target="roma_outdoor.pth"))
add(WeightsEntry("far-mapfree", "far", ZIP,
                 "https://fouheylab.eecs.umich.edu/~cnris/far/model_checkpoints/mapfree_6dreg/pretrained_models.zip",
                 "FAR's Map-free models (far_loftr.ckpt, far_superglue.ckpt); methods far, far:superglue",
                 SEE_NOTICE, target="far-mapfree", files=("far_loftr.ckpt", "far_superglue.ckpt")))
add(WeightsEntry("rpr-mapfree", "rpr", ZIP,
                 "https://storage.googleapis.com/niantic-lon-static/research/map-free-reloc/assets/mapfree_rpr_weights.zip",
                 "map-free-reloc's Map-free regressors (rot6d_trans.ckpt, 3d3d.ckpt, ...); methods rpr, rpr:3d3d",
                 "Niantic non-commercial", target="rpr-mapfree", files=("rot6d_trans.ckpt", "3d3d.ckpt")))
