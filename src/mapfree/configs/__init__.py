"""Training configurations shipped with the package, as YAML data.

`mickey` (released MicKey, curriculum), `mickey_overlap` (overlap-score variant),
`mickey_depth` (with Depth Anything depth supervision), `synthetic_cpu` and
`synthetic_cpu_depth` (a small CPU model for the synthetic benchmark). The variants name their
base and hold only their differences (:mod:`mapfree.configs.loader`); values are typed by
:mod:`mapfree.configs.typed`.
"""

from __future__ import annotations

from pathlib import Path

CONFIG_DIR = Path(__file__).parent


def available() -> list[str]:
    """Names of the packaged configurations."""
    return sorted(p.stem for p in CONFIG_DIR.glob("*.yaml"))


def config_path(name_or_path: str | Path) -> Path:
    """A YAML file as given, or the packaged configuration of that name (`mickey_depth`)."""
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") or path.exists():
        return path
    packaged = CONFIG_DIR / f"{path.as_posix()}.yaml"  # `study/synthetic` names a file in a subfolder
    if not packaged.is_file():
        raise FileNotFoundError(f"no config {str(name_or_path)!r}: give a YAML path or one of {', '.join(available())}")
    return packaged
