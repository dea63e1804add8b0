"""`mapfree weights list|download NAME`: the published weights mapfree uses, and fetching them into their caches."""

from __future__ import annotations

import argparse
import sys

from mapfree import logs

HELP = ("List the published weights mapfree can use (name, kind, source, cache location, present or not) "
        "or download one into the cache its library reads (torch hub or Hugging Face).")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = sub.add_parser("list", help="every catalogue entry and whether it is cached",
                             formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    fetch = sub.add_parser("download", help="fetch one entry (checksum verified where published)",
                           formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    fetch.add_argument("name", help="a name from `mapfree weights list`, or a Hugging Face Hub repo id org/name")
    for p in (listing, fetch):
        p.add_argument("--cache-dir", default=None,
                       help="folder to use instead of the torch hub checkpoints folder (URL entries) or the "
                            "Hugging Face cache (Hub entries); default: the libraries' own caches")


def run(args: argparse.Namespace) -> int:
    from mapfree.weights.catalog import CATALOG
    from mapfree.weights.fetch import download, entry_for, status

    if args.action == "list":
        rows = [status(CATALOG.get(name), args.cache_dir) for name in CATALOG]
        print("\t".join(("name", "kind", "source", "checksum", "cached at", "present")))
        for s in rows:
            e = s.entry
            print("\t".join((e.name, e.kind, e.source, e.checksum, str(s.location), "yes" if s.present else "no")))
        return 0
    entry = entry_for(args.name)
    path = download(entry, args.cache_dir, progress=logs.progress(sys.stderr.isatty()))
    print(f"{entry.name}: {path}")
    return 0
