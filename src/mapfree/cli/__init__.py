"""`mapfree` console command.

Each subcommand lives in its own module `mapfree/cli/<name>.py` (underscores become dashes)
exposing `HELP`, `add_arguments(parser)` and `run(args) -> int`; modules are discovered, not
listed. Command modules import only the standard library at import time and do their real
imports inside `run`, so `mapfree evaluate` never pays for torch.

Exit codes, the same for every command (:data:`EXIT_CODES`): 0 success; 1 the command ran but
found problems (check-submission, depth-prior --verify, failed depth-prior frames); 2 a user error:
bad arguments, a :class:`~mapfree.errors.UserError` (a missing extra included), or a path the user
named that is missing, of the wrong kind or not accessible, or a full disk (naming the output and the
space left), printed as one line; 130 interrupted; 141 the output pipe was closed (`| head`), quietly.
Anything else is a bug and keeps its traceback. `mapfree --debug COMMAND` shows the traceback of
expected failures too. Every subcommand's `--help` shows the defaults.

Results go to stdout; diagnostics go through `logging` to stderr, at the level `--quiet`
(warnings and errors only, no progress bars) or `--verbose` (DEBUG, Lightning's info included)
choose (:func:`mapfree.logs.configure`).
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys

from mapfree import __version__, logs
from mapfree.cli._types import DefaultsHelpFormatter, take_positional_aliases
from mapfree.errors import DISK_FULL_ERRNOS, DiskFullError, UserError

EXPECTED_FAILURES = (UserError, FileNotFoundError, FileExistsError, NotADirectoryError, IsADirectoryError,
                     PermissionError)
"""Exceptions a command reports as one line: user errors and problems with the paths a user named."""

EXIT_CODES = """exit codes:
  0    success
  1    the command ran but found problems (check-submission, depth-prior --verify)
  2    user error: bad arguments, files or values, a missing extra, a full disk (one line; --debug for
       the traceback)
  130  interrupted
  141  the reader of the output went away (e.g. `mapfree ... | head`): stops quietly, as Unix tools do"""

BROKEN_PIPE_EXIT = 128 + 13
"""The status of a Unix tool killed by SIGPIPE (`yes | head` leaves `yes` with 141): a closed output pipe stops
the command without a message, and a pipeline under `set -o pipefail` still sees that the output was cut."""


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
    """Run `mapfree ARGV`; returns the exit code (:data:`EXIT_CODES`)."""
    try:
        return _run(argv)
    except BrokenPipeError:
        _silence_stdout()
        return BROKEN_PIPE_EXIT


def _silence_stdout() -> None:
    """Point stdout at the null device, so the interpreter's last flush of unwritten output fails no more."""
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):  # a replaced stdout (tests, embedding): nothing to flush to
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, fd)
    os.close(devnull)


def _run(argv: list[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    take_positional_aliases(args, parser)
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
    except OSError as e:  # a full disk under a writer that does not go through mapfree.atomic
        if e.errno not in DISK_FULL_ERRNOS or args.debug:
            raise
        error = DiskFullError.writing(e.filename) if e.filename else f"no space left on the device ({e})"
        print(f"mapfree {args.command}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
