"""Argument types shared by several commands (a private module: not a subcommand)."""

from __future__ import annotations

import argparse
import math
import os
import sys


def positive_int(text: str) -> int:
    """An integer >= 1 (batch sizes, counts)."""
    return _int_at_least(text, 1)


def non_negative_int(text: str) -> int:
    """An integer >= 0 (worker processes)."""
    return _int_at_least(text, 0)


def _int_at_least(text: str, low: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < low:
        raise argparse.ArgumentTypeError(f"must be at least {low}, got {value}")
    return value


def finite_number(text: str) -> int | float:
    """A finite number, an int when written as one (so that metric keys print like the official ones: `5deg`,
    `90px`); NaN and Inf are refused, as every float option of every command must."""
    try:
        return int(text)
    except ValueError:
        pass
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text!r}")
    return value


def parse_size(text: str) -> tuple[int, int]:
    """'WxH' to (W, H); at least one 14x14 MicKey patch."""
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must look like 540x720, got {text!r}") from None
    if w < 14 or h < 14:
        raise argparse.ArgumentTypeError("size must be at least 14x14")
    return w, h


PRECISIONS = ("auto", "fp32", "fp16", "bf16")
"""The one precision vocabulary of every command (`--precision`); 'auto' is the command's own choice."""

TORCH_DTYPES = {"fp32": "float32", "fp16": "float16", "bf16": "bfloat16"}
"""Precision name -> torch dtype name."""


class DeprecatedAlias(argparse.Action):
    """A hidden old spelling of an option: sets the new option's value and warns on stderr."""

    def __init__(self, option_strings: list[str], dest: str, replacement: str, **kwargs) -> None:
        super().__init__(option_strings, dest, help=argparse.SUPPRESS, **kwargs)
        self.replacement = replacement

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        print(f"mapfree: warning: {option_string} is deprecated, use {self.replacement}", file=sys.stderr)
        setattr(namespace, self.dest, values)


def add_set_argument(parser: argparse.ArgumentParser, help: str) -> None:
    """`--set KEY=VALUE`, repeatable, into `args.overrides`: the one override syntax of every command."""
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE", help=help)


POSITIONAL_ALIAS = "_positional_"
"""Prefix of the hidden destinations of the old positional spellings of options (`mapfree synth OUT`)."""


def add_path_option(parser: argparse.ArgumentParser, option: str, help: str) -> None:
    """A required path option (`--out`, `--data-root`), with its old positional spelling kept as a hidden,
    deprecated alias (:func:`take_positional_aliases` moves it over)."""
    dest = option.removeprefix("--").replace("-", "_")
    parser.add_argument(option, dest=dest, default=None, help=f"{help} (required)")
    parser.add_argument(POSITIONAL_ALIAS + dest, nargs="?", default=None, help=argparse.SUPPRESS)


def take_positional_aliases(args: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
    """Give each :func:`add_path_option` its value: the option's, else the positional's with a deprecation
    warning; both, or neither, is a usage error."""
    for name in [n for n in vars(args) if n.startswith(POSITIONAL_ALIAS)]:
        dest, value = name.removeprefix(POSITIONAL_ALIAS), getattr(args, name)
        option = "--" + dest.replace("_", "-")
        delattr(args, name)
        if value is not None:
            if getattr(args, dest) is not None:
                parser.error(f"{option} given twice (once as {option}, once by position)")
            print(f"mapfree: warning: a positional {dest.upper()} is deprecated, use {option} {dest.upper()}",
                  file=sys.stderr)
            setattr(args, dest, value)
        if getattr(args, dest) is None:
            parser.error(f"the following arguments are required: {option}")


def _precision_from_dtype(text: str) -> str:
    """The old `--dtype` values (float32, float16, bfloat16) as precision names."""
    by_dtype = {dtype: name for name, dtype in TORCH_DTYPES.items()}
    if text not in by_dtype:
        raise argparse.ArgumentTypeError(f"invalid choice: {text!r} (choose from {', '.join(by_dtype)})")
    return by_dtype[text]


def add_precision_argument(parser: argparse.ArgumentParser | argparse._ArgumentGroup, help: str) -> None:
    """`--precision {auto,fp32,fp16,bf16}` (default auto), and the deprecated `--dtype float16` spelling."""
    parser.add_argument("--precision", choices=PRECISIONS, default="auto", help=help)
    parser.add_argument("--dtype", dest="precision", type=_precision_from_dtype, action=DeprecatedAlias,
                        replacement="--precision fp32|fp16|bf16")


def add_resize_argument(parser: argparse.ArgumentParser, help: str, default: str | None = None) -> None:
    """`--resize WxH` (a string default is parsed too), and the deprecated `--size WxH` spelling."""
    parser.add_argument("--resize", type=parse_size, default=default, metavar="WxH", help=help)
    parser.add_argument("--size", dest="resize", type=parse_size, action=DeprecatedAlias, replacement="--resize WxH")
    parser.add_argument("--max-pixels", type=positive_int, default=None, metavar="N",
                        help="largest image read or resized to, in pixels (omitted: $MAPFREE_MAX_PIXELS, else "
                             "8192x8192)")


def apply_pixel_cap(args: argparse.Namespace) -> None:
    """Make `--max-pixels` the image cap of this command and of its data-loader workers (through the environment
    variable they inherit, see :func:`mapfree.data.images.max_pixels`), and check `--resize` against it before
    any work."""
    from mapfree.data.images import MAX_PIXELS_ENV, check_pixels

    if args.max_pixels is not None:
        os.environ[MAX_PIXELS_ENV] = str(args.max_pixels)
    if args.resize is not None:
        check_pixels(args.resize, "--resize")


class DefaultsHelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows every option's default, except flags (False) and unset options (None), whose help says what happens."""

    def _get_help_string(self, action: argparse.Action) -> str:
        if action.default is None or action.default is False or action.default is argparse.SUPPRESS:
            return action.help or ""
        if isinstance(action.default, list):
            return f"{action.help or ''} (default: {' '.join(map(str, action.default))})".strip()
        return super()._get_help_string(action)


def file_name_part(value: str) -> str:
    """A depth suffix or correspondence-set name: letters, digits, '_', '.', '-' (it becomes part of file names)."""
    from mapfree.data.correspondences import NAME_RE

    if not NAME_RE.match(value) or value == "depth":
        raise argparse.ArgumentTypeError(f"{value!r}: use letters, digits, '_', '.' or '-' (and not 'depth')")
    return value
