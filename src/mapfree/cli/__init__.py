"""`mapfree` console command.

Each subcommand lives in its own module `mapfree/cli/<name>.py` (underscores become dashes)
exposing `HELP`, `add_arguments(parser)` and `run(args) -> int`; modules are discovered, not
listed. Command modules import only the standard library at import time and do their real
imports inside `run`, so `mapfree evaluate` never pays for torch.

Exit codes, the same for every command (:data:`EXIT_CODES`): 0 success; 1 the command ran but
found problems (check-submission, depth-prior --verify, failed depth-prior frames); 2 a user error:
bad arguments, a :class:`~mapfree.errors.UserError` (a missing extra included), or a path the user
named that is missing, of the wrong kind or not accessible, printed as one line; 130 interrupted.
Anything else is a bug and keeps its traceback. `mapfree --debug COMMAND` shows the traceback of
expected failures too. Every subcommand's `--help` shows the defaults.

Results go to stdout; diagnostics go through `logging` to stderr, at the level `--quiet`
(warnings and errors only, no progress bars) or `--verbose` (DEBUG, Lightning's info included)
choose (:func:`mapfree.logs.configure`).
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

from mapfree import __version__, logs
from mapfree.cli._types import DefaultsHelpFormatter
from mapfree.errors import UserError

EXPECTED_FAILURES = (UserError, FileNotFoundError, FileExistsError, NotADirectoryError, IsADirectoryError,
                     PermissionError)
"""Exceptions a command reports as one line: user errors and problems with the paths a user named."""

EXIT_CODES = """exit codes:
  0    success
  1    the command ran but found problems (check-submission, depth-prior --verify)
  2    user error: bad arguments, files or values, a missing extra (one line; --debug for the traceback)
  130  interrupted"""


MAX_ERROR_CHARS = 2000
"""Longest error message printed: a message quoting a huge input must not flood the terminal."""


def shortened(message: str, limit: int = MAX_ERROR_CHARS) -> str:
    """`message` cut to `limit` characters, ending with an ellipsis and how many characters were cut."""
    if len(message) <= limit:
        return message
    return f"{message[:limit]}... ({len(message) - limit:,} more characters)"


def command_modules() -> dict[str, str]:
    """{command name: module name} for every module in this package."""
    return {
        info.name.replace("_", "-"): f"{__name__}.{info.name}"
        for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name)
        if not info.name.startswith("_")
    }


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mapfree", epilog=EXIT_CODES,
                                     description="Map-free relocalization toolkit (MicKey + depth supervision).",
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"mapfree {__version__}")
    parser.add_argument("--debug", action="store_true", help="show the traceback of expected errors too")
    verbosity = parser.add_mutually_exclusive_group()
    verbosity.add_argument("-q", "--quiet", dest="verbosity", action="store_const", const="quiet", default="normal",
                           help="warnings and errors only, no progress bars (results still go to stdout)")
    verbosity.add_argument("-v", "--verbose", dest="verbosity", action="store_const", const="verbose",
                           help="debug messages too, Lightning's included")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, module_name in command_modules().items():
        module = importlib.import_module(module_name)
        cmd = sub.add_parser(name, help=module.HELP, description=module.HELP, formatter_class=DefaultsHelpFormatter)
        module.add_arguments(cmd)
        cmd.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logs.configure(args.verbosity)
    try:
        return int(args._run(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except EXPECTED_FAILURES as e:
        if args.debug:
            raise
        print(f"mapfree {args.command}: error: {shortened(str(e))}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
