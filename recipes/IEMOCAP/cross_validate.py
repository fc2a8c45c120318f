#!/usr/bin/env python3
"""5-fold leave-one-session-out cross-validation driver of the IEMOCAP recipes.

Runs ``train.py`` once per held-out session (each fold in its own process), skipping the
folds that already have ``test_results.json`` (so an interrupted run resumes), then writes
into the experiment folder:

* ``results.csv``: WA, UA, macro-F1 per fold, then their mean and standard deviation;
* ``results.md``: the same as Markdown, with a one-line summary in the form of the
  paper's table (UA mean (std));
* ``confusion_matrix.png``: the confusion matrix of all folds' test predictions together.

Usage:
> python cross_validate.py hparams/wavlm_corr_att.yaml --data_folder=/path/IEMOCAP_full_release [overrides] [--folds 1,2,3,4,5]

Every option other than ``--folds`` and ``--train_script`` is passed to each ``train.py``
run. Standard deviations are sample standard deviations over folds (ddof=1).

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

from ser_modules.utils.files import read_json
from ser_modules.objectives.metrics import ClassificationMetrics

logger = logging.getLogger(__name__)
HERE = os.path.dirname(os.path.abspath(__file__))
METRICS = ("WA", "UA", "F1")


def parse_args(argv):
    """Splits the driver's own options from those passed on to ``train.py``."""
    parser = argparse.ArgumentParser(description="5-fold cross-validation on IEMOCAP")
    parser.add_argument("hparams_file")
    parser.add_argument("--folds", default="1,2,3,4,5", help="held-out sessions, e.g. 1,3")
    parser.add_argument("--train_script", default=os.path.join(HERE, "train.py"))
    args, train_args = parser.parse_known_args(argv)
    args.folds = [int(fold) for fold in args.folds.split(",")]
    if not args.folds or any(fold not in range(1, 6) for fold in args.folds):
        parser.error(f"--folds must list sessions among 1..5, got {args.folds}")
    return args, train_args


def resolved_hparams(hparams_file, train_args, session):
    """The fold's hyperparameters as plain YAML values (nothing is instantiated)."""
    _, _, overrides = sb.parse_arguments([hparams_file, *train_args, f"--test_session={session}"])
    with open(hparams_file, encoding="utf-8") as stream:
        return YAML(typ="rt").load(resolve_references(stream, overrides))


def run_fold(args, train_args, session):
    """Runs ``train.py`` on one fold unless its results exist; returns the results."""
    folder = str(resolved_hparams(args.hparams_file, train_args, session)["output_folder"])
    results_file = os.path.join(folder, "test_results.json")
    if os.path.exists(results_file):
        logger.info("Fold %d already done (%s): skipped", session, results_file)
    else:
        logger.info("Fold %d: training (outputs in %s)", session, folder)
        command = [sys.executable, args.train_script, args.hparams_file, *train_args]
        subprocess.run([*command, f"--test_session={session}"], check=True)
    return {"fold": session, "folder": folder, **read_json(results_file)}


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
    fold_results = [run_fold(args, train_args, session) for session in args.folds]
    hparams = resolved_hparams(args.hparams_file, train_args, args.folds[0])
    folder = str(hparams["experiment_folder"])
    write_csv(fold_results, os.path.join(folder, "results.csv"))
    table = write_markdown(fold_results, hparams, os.path.join(folder, "results.md"))
    plot_pooled_confusion(fold_results, list(hparams["emotions"]), os.path.join(folder, "confusion_matrix.png"))
    print(table)
    print(f"\nResults written to {folder}/results.md, results.csv and confusion_matrix.png")


if __name__ == "__main__":
    main(sys.argv[1:])
