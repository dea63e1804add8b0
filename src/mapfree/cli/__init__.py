"""`mapfree` console command.

Each subcommand lives in its own module under `mapfree.cli` exposing `HELP`,
`add_arguments(parser)` and `run(args) -> int`. Command modules import only the standard
library at import time, so `mapfree evaluate` never pays for torch.
"""

from __future__ import annotations

import argparse
import importlib
import sys

COMMANDS: dict[str, str] = {
    "synth": "mapfree.cli.synth",
    "summary": "mapfree.cli.summary",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mapfree", description="Map-free relocalization toolkit (MicKey + depth supervision).")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, module_name in COMMANDS.items():
        module = importlib.import_module(module_name)
        cmd = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(cmd)
        cmd.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args._run(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except (ValueError, OSError) as e:  # DataFormatError is a ValueError: print it, no traceback
        print(f"mapfree {args.command}: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
