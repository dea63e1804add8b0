"""`mapfree check-submission SUBMISSION.zip --data-root ROOT`: find what the benchmark would skip or reject."""

from __future__ import annotations

import argparse

from mapfree.cli._types import non_negative_int

HELP = ("Check a submission zip against a split before uploading: missing scenes and frames, unparsable "
        "values (e.g. tensor reprs), NaN, negative confidences, encoding problems. Exit status 1 on errors, "
        "any scored frame left unscored included; 2 if the zip cannot be read.")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("submission", help="zip of pose_{scene}.txt files")
    parser.add_argument("--data-root", required=True, help="dataset folder holding the split folder")
    parser.add_argument("--split", default="test", choices=("val", "test"), help="split the submission is for")
    parser.add_argument("--max-issues", type=non_negative_int, default=50, help="issues to print")


def run(args: argparse.Namespace) -> int:
    from mapfree.evaluation.check import check_submission
    from mapfree.evaluation.report import format_issues

    report = check_submission(args.submission, args.data_root, args.split)
    if report.issues:
        print(format_issues(report.issues, args.max_issues))
    print(report.summary())
    return 1 if report.errors else 0
