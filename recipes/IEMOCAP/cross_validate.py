#!/usr/bin/env python3
"""5-fold leave-one-session-out cross-validation driver of the IEMOCAP recipes.

Runs ``train.py`` once per held-out session (each fold in its own process), skipping the
folds that are finished runs of this very command (their ``experiment.json``: same
hyperparameters, trained to the end, evaluated; so an interrupted run resumes), then writes
into the experiment folder:

* ``results.csv``: WA, UA, macro-F1 per fold, then their mean and standard deviation;
* ``results.md``: the same as Markdown, with a one-line summary in the form of the
  paper's table (UA mean (std));
* ``confusion_matrix.png``: the confusion matrix of all folds' test predictions together.

Usage:
> python cross_validate.py hparams/wavlm_corr_att.yaml --data_folder=/path/IEMOCAP_full_release [overrides] [--folds 1,2,3,4,5]

Every option other than ``--folds`` and ``--train_script`` is passed to each ``train.py``
run, except those that would mix folds, which are refused: ``--test_session`` (use
``--folds``), ``--debug``, and a path of the fold (``--output_folder``, ``--save_folder``,
``--manifest_folder``...: use ``--experiment_folder`` or ``--results_folder``). A fold whose
run fails or does not finish stops the driver. Standard deviations are sample standard
deviations over folds (ddof=1).

Authors
 * ser-recipes contributors 2026
"""

import argparse
import csv
import logging
import os
import subprocess
import sys

import numpy as np
import speechbrain as sb
from hyperpyyaml import resolve_references
from ruamel.yaml import YAML

from ser_modules.objectives.metrics import ClassificationMetrics
from ser_modules.training.identity import command_identity, finished_run, pop_overwrite_option
from ser_modules.utils.files import read_json

logger = logging.getLogger(__name__)
HERE = os.path.dirname(os.path.abspath(__file__))
METRICS = ("WA", "UA", "F1")


class FoldError(RuntimeError):
    """A fold that cannot be run as asked, or did not finish."""


def parse_args(argv):
    """Splits the driver's own options from those passed on to ``train.py``; refuses those
    that would mix folds (:func:`check_train_args`)."""
    parser = argparse.ArgumentParser(description="5-fold cross-validation on IEMOCAP")
    parser.add_argument("hparams_file")
    parser.add_argument("--folds", default="1,2,3,4,5", help="held-out sessions, e.g. 1,3")
    parser.add_argument("--train_script", default=os.path.join(HERE, "train.py"))
    args, train_args = parser.parse_known_args(argv)
    args.folds = [int(fold) for fold in args.folds.split(",")]
    if not args.folds or any(fold not in range(1, 6) for fold in args.folds):
        parser.error(f"--folds must list sessions among 1..5, got {args.folds}")
    problems = check_train_args(args.hparams_file, train_args)
    if problems:
        parser.error("\n".join(problems))
    return args, train_args


def check_train_args(hparams_file, train_args):
    """The options ``cross_validate.py`` cannot pass on to every fold, one message each.

    ``--test_session`` (the driver sets it; ``--folds`` chooses them), ``--debug`` (never a
    result), and any override of a key whose value depends on the fold (``output_folder``,
    ``save_folder``, ``manifest_folder``...: one value for all folds would make them share
    a folder, so that a fold is "done" with another one's results, or resumes from another
    fold's checkpoint, trained on its test data).
    """
    _, run_opts, overrides = sb.parse_arguments([hparams_file, *pop_overwrite_option(train_args)[0]])
    overrides = dict(YAML(typ="safe").load(overrides) or {})
    problems = []
    if "test_session" in overrides:
        problems.append(
            "--test_session: cross_validate.py gives each fold its test session; use --folds=N to run fold N only"
        )
    if run_opts.get("debug"):
        problems.append(
            "--debug: a debug run is never a result to summarise; run train.py --debug on one fold instead"
        )
    for key in per_fold_overrides(hparams_file, overrides):
        problems.append(
            f"--{key}: its value depends on the fold in {hparams_file}, so one value for every fold would "
            f"mix the folds. Use --experiment_folder=... (fold k goes to <experiment_folder>/session<k>) "
            f"or --results_folder=... to choose where the experiment goes"
        )
    return problems


def per_fold_overrides(hparams_file, overrides):
    """The overridden keys whose default value differs between two folds.

    Example
    -------
    >>> import tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "h.yaml")
    >>> _ = open(path, "w").write("test_session: 1\\nroot: r\\nlr: 0.1\\nout: !ref <root>/session<test_session>\\n")
    >>> per_fold_overrides(path, {"out": "/data/cv", "root": "/data", "lr": 0.5})
    ['out']
    """
    found = []
    for key in [key for key in overrides if key != "test_session"]:
        others = {k: v for k, v in overrides.items() if k not in (key, "test_session")}
        try:
            values = [resolve(hparams_file, {**others, "test_session": session}).get(key) for session in (1, 2)]
        except ValueError:  # a !PLACEHOLDER: no default value, so none that depends on the fold
            continue
        if values[0] != values[1]:
            found.append(key)
    return found


def resolve(hparams_file, overrides):
    """Hyperparameters as plain YAML values (nothing is instantiated)."""
    with open(hparams_file, encoding="utf-8") as stream:
        return YAML(typ="rt").load(resolve_references(stream, overrides)) or {}


def resolved_hparams(hparams_file, train_args, session):
    """The fold's hyperparameters as plain YAML values (nothing is instantiated)."""
    argv = [hparams_file, *pop_overwrite_option(train_args)[0], f"--test_session={session}"]
    _, _, overrides = sb.parse_arguments(argv)
    return resolve(hparams_file, overrides)


def run_fold(args, train_args, session):
    """Runs ``train.py`` on one fold unless it holds a finished run of this very command
    (``experiment.json``: same identity, trained to its end and evaluated); returns the
    fold's results."""
    folder = str(resolved_hparams(args.hparams_file, train_args, session)["output_folder"])
    fold_args = [*train_args, f"--test_session={session}"]
    identity = command_identity(args.hparams_file, pop_overwrite_option(fold_args)[0], args.train_script)
    done, why = finished_run(folder, identity)
    if done:
        logger.info("Fold %d already done (%s): skipped", session, folder)
    else:
        logger.info("Fold %d: training (%s: %s)", session, folder, why)
        command = [sys.executable, args.train_script, args.hparams_file, *fold_args]
        if subprocess.run(command).returncode != 0:
            raise FoldError(f"Fold {session}: {os.path.basename(args.train_script)} failed (its messages are above)")
        done, why = finished_run(folder, identity)
        if not done:
            raise FoldError(f"Fold {session}: {folder} is not finished after its run ({why})")
    return {"fold": session, "folder": folder, **read_json(os.path.join(folder, "test_results.json"))}


def mean_std(values):
    """Mean and sample standard deviation (0 for a single value)."""
    values = np.asarray(values, dtype=float)
    return float(values.mean()), float(values.std(ddof=1)) if len(values) > 1 else 0.0


def write_csv(fold_results, path):
    """Per-fold metrics, then mean and std rows."""
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["fold", "num_test", *METRICS])
        for result in fold_results:
            writer.writerow([result["fold"], result["num_samples"], *(f"{result[m]:.2f}" for m in METRICS)])
        stats = [mean_std([r[m] for r in fold_results]) for m in METRICS]
        writer.writerow(["mean", "", *(f"{mean:.2f}" for mean, _ in stats)])
        writer.writerow(["std", "", *(f"{std:.2f}" for _, std in stats)])


def write_markdown(fold_results, hparams, path):
    """Per-fold table and a summary line in the form of the paper's Table 1."""
    stats = {m: mean_std([r[m] for r in fold_results]) for m in METRICS}
    folds = ", ".join(str(r["fold"]) for r in fold_results)
    upstream = hparams.get("ssl_hub", "-")
    pooling = hparams.get("pooling", "-")
    lines = [
        f"# {hparams['experiment_name']} ({upstream})",
        "",
        "| experiment | upstream | pooling | p_d | folds | UA mean (std) | WA mean (std) | macro-F1 mean (std) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
        f"| {hparams['experiment_name']} | {upstream} | {pooling} | {hparams.get('channel_dropout', '-')} | {folds} | "
        + " | ".join(f"{stats[m][0]:.2f} ({stats[m][1]:.2f})" for m in ("UA", "WA", "F1"))
        + " |",
        "",
        "| fold (test session) | test utterances | WA | UA | macro-F1 |",
        "| --- | --- | --- | --- | --- |",
    ]
    for r in fold_results:
        lines.append(f"| {r['fold']} | {r['num_samples']} | {r['WA']:.2f} | {r['UA']:.2f} | {r['F1']:.2f} |")
    lines += ["", "Percent; std = sample standard deviation over folds (ddof=1)."]
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("\n".join(lines) + "\n")
    return "\n".join(lines)


def plot_pooled_confusion(fold_results, labels, path):
    """Confusion matrix of all folds' test predictions together."""
    pooled = ClassificationMetrics(labels)
    for result in fold_results:
        with open(os.path.join(result["folder"], "predictions.csv"), encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
        pooled.append(
            [row["id"] for row in rows],
            [labels.index(row["prediction"]) for row in rows],
            [labels.index(row["target"]) for row in rows],
        )
    pooled.plot_confusion_matrix(path, title="All folds")


def main(argv):
    """Runs the folds and writes the summary files; prints the Markdown table."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    args, train_args = parse_args(argv)
    try:
        fold_results = [run_fold(args, train_args, session) for session in args.folds]
    except FoldError as error:
        sys.exit(f"cross_validate.py: {error}")
    hparams = resolved_hparams(args.hparams_file, train_args, args.folds[0])
    folder = str(hparams["experiment_folder"])
    write_csv(fold_results, os.path.join(folder, "results.csv"))
    table = write_markdown(fold_results, hparams, os.path.join(folder, "results.md"))
    plot_pooled_confusion(fold_results, list(hparams["emotions"]), os.path.join(folder, "confusion_matrix.png"))
    print(table)
    print(f"\nResults written to {folder}/results.md, results.csv and confusion_matrix.png")


if __name__ == "__main__":
    main(sys.argv[1:])
