"""Every `mapfree` command spells precision and image size the same way, shows its defaults and
documents one exit-code convention; old spellings still work with a warning."""

from __future__ import annotations

import argparse
import subprocess
import sys

import pytest

import mapfree
from mapfree.cli import EXIT_CODES, build_parser, main
from mapfree.cli._types import PRECISIONS, DefaultsHelpFormatter


def subparsers() -> dict[str, argparse.ArgumentParser]:
    action = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


COMMANDS = subparsers()


def visible_options(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    return [a for a in parser._actions if a.option_strings and a.help is not argparse.SUPPRESS
            and not isinstance(a, argparse._HelpAction)]


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_help_shows_every_default_once(name: str):
    parser = COMMANDS[name]
    assert parser.formatter_class is DefaultsHelpFormatter
    formatter = parser._get_formatter()
    for action in visible_options(parser):
        shown = formatter._expand_help(action)
        assert action.help, f"{name} {action.option_strings[0]} has no help"
        if action.default is None or action.default is False:
            assert "(default: " not in shown
        else:
            assert shown.count("default") == 1 and "(default: " in shown, (name, action.option_strings, shown)


def test_precision_and_size_have_one_spelling():
    precision_flags, size_flags = set(), set()
    for parser in COMMANDS.values():
        for action in visible_options(parser):
            if action.dest == "precision" or "precision" in (action.help or "").split(" ")[:2]:
                precision_flags.add((tuple(action.option_strings), tuple(action.choices or ())))
            if action.metavar == "WxH" or action.dest in ("resize", "size"):
                size_flags.add(tuple(action.option_strings))
    assert precision_flags == {(("--precision",), PRECISIONS)}
    # --matcher-size is another quantity: what vismatch matchers see, the pair item keeps its --resize size.
    assert size_flags == {("--resize",), ("--matcher-size",)}


def test_every_command_with_a_model_or_network_takes_precision():
    assert {name for name, p in COMMANDS.items() if any(a.dest == "precision" for a in p._actions)} >= {
        "pose", "submit", "compare", "depth-prior"}


@pytest.mark.parametrize(("argv", "dest", "value"), [
    (["submit", "--data-root", "D", "--split", "val", "--out", "O", "--dtype", "float16"], "precision", "fp16"),
    (["compare", "--dtype", "bfloat16"], "precision", "bf16"),
    (["synth", "--out", "OUT", "--size", "56x70"], "resize", (56, 70)),
])
def test_old_spellings_still_work_with_a_warning(argv: list[str], dest: str, value, capsys: pytest.CaptureFixture):
    args = build_parser().parse_args(argv)
    assert getattr(args, dest) == value
    err = capsys.readouterr().err
    assert "deprecated" in err and ("--precision" in err or "--resize" in err)


def test_old_dtype_value_is_checked(capsys: pytest.CaptureFixture):
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args(["compare", "--dtype", "fp16"])
    assert exit_info.value.code == 2
    assert "float16" in capsys.readouterr().err


def test_new_spellings_and_defaults():
    args = build_parser().parse_args(["synth", "--out", "OUT"])
    assert args.resize == (360, 480)
    args = build_parser().parse_args(["pose", "a.jpg", "b.jpg", "--intrinsics", "K", "--checkpoint", "C",
                                      "--precision", "bf16", "--resize", "56x70"])
    assert (args.precision, args.resize) == ("bf16", (56, 70))


def test_version(capsys: pytest.CaptureFixture):
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"mapfree {mapfree.__version__}"


def test_python_m_mapfree_help_documents_exit_codes():
    result = subprocess.run([sys.executable, "-m", "mapfree", "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0
    assert "exit codes:" in result.stdout and "130" in result.stdout
    assert EXIT_CODES.splitlines()[0] in result.stdout


@pytest.mark.parametrize("argv", [["evaluate"], ["synth", "--out", "OUT", "--resize", "5x5"], ["summary"]])
def test_bad_arguments_exit_2(argv: list[str]):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2


def test_user_error_exits_2_and_interrupt_130(monkeypatch: pytest.MonkeyPatch, tmp_path, capsys):
    assert main(["summary", "--data-root", str(tmp_path / "missing")]) == 2
    assert capsys.readouterr().err.count("\n") == 1

    def interrupted(args: argparse.Namespace) -> int:
        raise KeyboardInterrupt

    monkeypatch.setattr("mapfree.cli.summary.run", interrupted)
    assert main(["summary", "--data-root", str(tmp_path)]) == 130


def test_overrides_outputs_and_data_have_one_spelling():
    """`--set KEY=VALUE` wherever a config is overridden; `--out` and `--data-root` as options, never positionals."""
    for name, parser in COMMANDS.items():
        positionals = [a.dest for a in parser._actions if not a.option_strings and a.help is not argparse.SUPPRESS]
        assert not {"out", "data_root", "overrides"} & set(positionals), name
        assert all("KEY=VALUE" not in str(a.metavar) or a.option_strings == ["--set"]
                   for a in parser._actions if a.help is not argparse.SUPPRESS), name
    assert {name for name, p in COMMANDS.items() if any(a.option_strings == ["--set"] for a in p._actions)} == {
        "train", "pretrain", "study"}


def test_old_positional_spellings_still_work_with_a_warning(tiny_dataset, tmp_path, capsys):
    assert main(["summary", str(tiny_dataset)]) == 0
    captured = capsys.readouterr()
    assert "positional DATA_ROOT is deprecated, use --data-root" in captured.err and "scenes" in captured.out
    with pytest.raises(SystemExit) as twice:
        main(["summary", str(tiny_dataset), "--data-root", str(tiny_dataset)])
    assert twice.value.code == 2 and "--data-root given twice" in capsys.readouterr().err
    # the study's positional overrides: warned, then applied (here refused as the bad value they are)
    assert main(["study", "--quick", "--out", str(tmp_path / "s"), "bootstrap=abc"]) == 2
    err = capsys.readouterr().err
    assert "positional KEY=VALUE overrides are deprecated, use --set" in err and "bootstrap" in err
    assert main(["study", "--quick", "--out", str(tmp_path / "s"), "--set", "bootstrap=abc"]) == 2
    assert "deprecated" not in capsys.readouterr().err
