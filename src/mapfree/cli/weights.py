"""`mapfree weights list|download|import`: the published weights mapfree uses, fetching them into their caches,
and placing a copy fetched on another machine. Listing needs neither torch nor huggingface_hub."""

from __future__ import annotations

import argparse
import sys

from mapfree import logs

HELP = ("List the published weights mapfree can use (name, kind, size, licence, present or absent, where), "
        "download one into the cache its library reads (torch hub or Hugging Face), or import a copy fetched "
        "elsewhere; catalogue names then load anywhere weights are taken (--checkpoint mickey, --weights NAME).")
COLUMNS = ("name", "kind", "size", "licence", "present", "path")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = sub.add_parser("list", help="every catalogue entry and whether it is cached",
                             formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    listing.add_argument("--json", action="store_true",
                         help="a JSON list instead of the table, with each entry's source, checksum, description, "
                              "size in bytes and the extra whose commands use it")
    fetch = sub.add_parser("download", help="fetch one entry (checksum verified where published, checkpoints "
                                            "loaded), or place a copy fetched elsewhere with --from",
                           formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    fetch.add_argument("name", help="a name from `mapfree weights list`, or a Hugging Face Hub repo id org/name")
    fetch.add_argument("--from", dest="path", default=None, metavar="PATH",
                       help="no network: a copy of the file (or MicKey zip or folder, or Hub model folder) fetched "
                            "elsewhere, checked as a download is and placed in the cache (as `import NAME PATH`)")
    placing = sub.add_parser("import", help="place a copy fetched elsewhere (checked as a download is)",
                             formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    placing.add_argument("name", help="a name from `mapfree weights list`, or a Hugging Face Hub repo id org/name")
    placing.add_argument("path", help="the file (a MicKey zip or folder; a Hub model folder holding config.json)")
    for p in (fetch, placing):
        p.add_argument("--overwrite", action="store_true",
                       help="replace weights already in the cache (import and --from; a download always replaces "
                            "them once the new copy is verified)")
    for p in (listing, fetch, placing):
        p.add_argument("--cache-dir", default=None,
                       help="folder to use instead of the torch hub checkpoints folder (URL entries) or the "
                            "Hugging Face cache (Hub entries); default: the libraries' own caches")


def run(args: argparse.Namespace) -> int:
    from mapfree.weights.fetch import entry_for

    if args.action == "list":
        return _list(args.cache_dir, args.json)
    entry = entry_for(args.name)
    if args.action == "import" or args.path is not None:
        from mapfree.weights.install import import_weights

        path = import_weights(entry, args.path, args.cache_dir, args.overwrite)
    elif args.overwrite:
        from mapfree.errors import InputError

        raise InputError("--overwrite goes with --from PATH (a download replaces the cached copy once verified)")
    else:
        from mapfree.weights.fetch import download

        path = download(entry, args.cache_dir, progress=logs.progress(sys.stderr.isatty()))
    print(f"{entry.name}: {path}")
    return 0


def _list(cache_dir: str | None, as_json: bool) -> int:
    from mapfree.atomic import json_text
    from mapfree.weights.caches import status
    from mapfree.weights.catalog import CATALOG

    found = [status(CATALOG.get(name), cache_dir) for name in CATALOG]
    if as_json:
        print(json_text([{"name": s.entry.name, "kind": s.entry.kind, "size": s.size, "licence": s.entry.licence,
                          "present": s.present, "path": str(s.location), "source": s.entry.source,
                          "source_type": s.entry.source_type, "checksum": s.entry.checksum,
                          "description": s.entry.description, "extra": s.entry.extra} for s in found], indent=2),
              end="")
        return 0
    rows = [COLUMNS] + [(s.entry.name, s.entry.kind, human_size(s.size), s.entry.licence,
                         "present" if s.present else "absent", str(s.location)) for s in found]
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS) - 1)]
    for row in rows:
        print("  ".join([cell.ljust(width) for cell, width in zip(row, widths)] + [row[-1]]))
    return 0


def human_size(size: int | None) -> str:
    """`size` bytes as '1.2 GB' (powers of 1000), '-' for None."""
    if size is None:
        return "-"
    units, value, step = ("B", "kB", "MB", "GB", "TB"), float(size), 0
    while value >= 1000 and step < len(units) - 1:
        value, step = value / 1000, step + 1
    return f"{size} B" if step == 0 else f"{value:.1f} {units[step]}"
