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

``--report`` chooses which stored evaluation of the folds is summarised, without retraining
a finished fold: ``reported`` (default: the model the fold's ``test_results.json`` reports),
or, for ``train_upstream_downstream.py`` folds, which evaluate both, ``best_single`` (the best
checkpoint) or ``average`` (the average of the best checkpoints, upstream and downstream).
The other evaluations go to ``results_<report>.md``, ``results_<report>.csv`` and
``confusion_matrix_<report>.png``, so that the default summary is never replaced by another
one. E.g. the two readings of Morais et al.'s rows 3-4: ``cross_validate.py
hparams/morais_ft_wav2vec2.yaml --train_script=train_upstream_downstream.py --report average``
(stage 1's own averaged model) and ``hparams/morais_wav2vec2_downstream.yaml`` (a new head on
the averaged upstream).

Usage:
> python cross_validate.py hparams/wavlm_corr_att.yaml --data_folder=/path/IEMOCAP_full_release \\
>     [overrides] [--folds 1,2,3,4,5] [--report reported]

Every option other than ``--folds``, ``--train_script`` and ``--report`` is passed to each
``train.py`` run, except those that would mix folds, which are refused: ``--test_session`` (use
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

from ser_modules.objectives.metrics import ClassificationMetrics
from ser_modules.training.identity import command_identity, finished_run, pop_overwrite_option
from ser_modules.utils.files import read_json
from ser_modules.utils.yaml_values import parse_overrides, read_resolved_values

logger = logging.getLogger(__name__)
HERE = os.path.dirname(os.path.abspath(__file__))
METRICS = ("WA", "UA", "F1")
#: ``--report`` choice -> (key of the evaluation in ``test_results.json``, its scores file);
#: ``reported`` is the top level of ``test_results.json`` and ``predictions.csv``.
REPORTS = {
    "reported": (None, None),
    "best_single": ("best_single", "test_scores_best.csv"),
    "average": ("average", "test_scores_average.csv"),
}


class FoldError(RuntimeError):
    """A fold that cannot be run as asked, or did not finish."""


def parse_args(argv):
    """Splits the driver's own options from those passed on to ``train.py``; refuses those
    that would mix folds (:func:`check_train_args`)."""
    parser = argparse.ArgumentParser(description="5-fold cross-validation on IEMOCAP")
    parser.add_argument("hparams_file")
    parser.add_argument("--folds", default="1,2,3,4,5", help="held-out sessions, e.g. 1,3")
    parser.add_argument("--train_script", default=os.path.join(HERE, "train.py"))
    parser.add_argument(
        "--report",
        choices=sorted(REPORTS),
        default="reported",
        help="which stored evaluation of the folds to summarise (module docstring)",
    )
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
    _, run_opts, overrides = sb.parse_arguments(
        [hparams_file, *pop_overwrite_option(train_args)[0]]
    )
    overrides = parse_overrides(overrides)
    problems = []
    if "test_session" in overrides:
        problems.append(
            "--test_session: cross_validate.py gives each fold its test session; use --folds=N to"
            " run fold N only"
        )
    if run_opts.get("debug"):
        problems.append(
            "--debug: a debug run is never a result to summarise; run train.py --debug on one fold"
            " instead"
        )
    for key in per_fold_overrides(hparams_file, overrides):
        problems.append(
            f"--{key}: its value depends on the fold in {hparams_file}, so one value for every fold"
            " would mix the folds. Use --experiment_folder=... (fold k goes to"
            " <experiment_folder>/session<k>) or --results_folder=... to choose where the"
            " experiment goes"
        )
    return problems


def per_fold_overrides(hparams_file, overrides):
    """The overridden keys whose default value differs between two folds.

    Example
    -------
    >>> import tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "h.yaml")
    >>> text = "test_session: 1\\nroot: r\\nlr: 0.1\\nout: !ref <root>/session<test_session>\\n"
    >>> _ = open(path, "w").write(text)
    >>> per_fold_overrides(path, {"out": "/data/cv", "root": "/data", "lr": 0.5})
    ['out']
    """
    found = []
    for key in [key for key in overrides if key != "test_session"]:
        others = {k: v for k, v in overrides.items() if k not in (key, "test_session")}
        try:
            values = [
                read_resolved_values(hparams_file, {**others, "test_session": session}).get(key)
                for session in (1, 2)
            ]
        except ValueError:  # a !PLACEHOLDER: no default value, so none that depends on the fold
            continue
        if values[0] != values[1]:
            found.append(key)
    return found


def resolved_hparams(hparams_file, train_args, session):
    """The fold's hyperparameters as plain YAML values (nothing is instantiated)."""
    argv = [hparams_file, *pop_overwrite_option(train_args)[0], f"--test_session={session}"]
    _, _, overrides = sb.parse_arguments(argv)
    return read_resolved_values(hparams_file, overrides)


def run_fold(args, train_args, session):
    """Runs ``train.py`` on one fold unless it holds a finished run of this very command
    (``experiment.json``: same identity, trained to its end and evaluated); returns the
    fold's results."""
    folder = str(resolved_hparams(args.hparams_file, train_args, session)["output_folder"])
    fold_args = [*train_args, f"--test_session={session}"]
    identity = command_identity(
        args.hparams_file, pop_overwrite_option(fold_args)[0], args.train_script
    )
    done, why = finished_run(folder, identity)
    if done:
        logger.info("Fold %d already done (%s): skipped", session, folder)
    else:
        logger.info("Fold %d: training (%s: %s)", session, folder, why)
        command = [sys.executable, args.train_script, args.hparams_file, *fold_args]
        if subprocess.run(command).returncode != 0:
            raise FoldError(
                f"Fold {session}: {os.path.basename(args.train_script)} failed (its messages are"
                " above)"
            )
        done, why = finished_run(folder, identity)
        if not done:
            raise FoldError(f"Fold {session}: {folder} is not finished after its run ({why})")
    return {
        "fold": session,
        "folder": folder,
        **read_json(os.path.join(folder, "test_results.json")),
    }


def select_evaluation(result, report):
    """The metrics of the ``--report`` evaluation of one fold's results.

    Example
    -------
    >>> fold = {"fold": 1, "folder": "f", "UA": 60.0, "average": {"UA": 62.0}}
    >>> select_evaluation(fold, "average")["UA"], select_evaluation(fold, "reported")["UA"]
    (62.0, 60.0)
    >>> try:
    ...     select_evaluation({"fold": 2, "folder": "g", "UA": 60.0}, "best_single")
    ... except FoldError as error:
    ...     print(error)
    Fold 2: g/test_results.json holds no 'best_single' evaluation (only
    train_upstream_downstream.py ...
    """
    key, _ = REPORTS[report]
    if key is None:
        return result
    if key not in result:
        raise FoldError(
            f"Fold {result['fold']}: {os.path.join(result['folder'], 'test_results.json')} holds no"
            f" {key!r} evaluation (only train_upstream_downstream.py folds evaluate both the best"
            " checkpoint and the average): use --report reported"
        )
    return {"fold": result["fold"], "folder": result["folder"], **result[key]}


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
            writer.writerow(
                [result["fold"], result["num_samples"], *(f"{result[m]:.2f}" for m in METRICS)]
            )
        stats = [mean_std([r[m] for r in fold_results]) for m in METRICS]
        writer.writerow(["mean", "", *(f"{mean:.2f}" for mean, _ in stats)])
        writer.writerow(["std", "", *(f"{std:.2f}" for _, std in stats)])


def write_markdown(fold_results, hparams, path, report="reported"):
    """Per-fold table and a summary line in the form of the paper's Table 1 (``report``: the
    evaluation summarised, named in the title unless it is the reported one)."""
    stats = {m: mean_std([r[m] for r in fold_results]) for m in METRICS}
    folds = ", ".join(str(r["fold"]) for r in fold_results)
    upstream = hparams.get("ssl_hub", "-")
    pooling = hparams.get("pooling", "-")
    lines = [
        f"# {hparams['experiment_name']} ({upstream})"
        + ("" if report == "reported" else f", evaluation: {report}"),
        "",
        (
            "| experiment | upstream | pooling | p_d | folds | UA mean (std) | WA mean (std) |"
            " macro-F1 mean (std) |"
        ),
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
        f"| {hparams['experiment_name']} | {upstream} | {pooling} |"
        f" {hparams.get('channel_dropout', '-')} | {folds} | "
        + " | ".join(f"{stats[m][0]:.2f} ({stats[m][1]:.2f})" for m in ("UA", "WA", "F1"))
        + " |",
        "",
        "| fold (test session) | test utterances | WA | UA | macro-F1 |",
        "| --- | --- | --- | --- | --- |",
    ]
    for r in fold_results:
        lines.append(
            f"| {r['fold']} | {r['num_samples']} | {r['WA']:.2f} | {r['UA']:.2f} | {r['F1']:.2f} |"
        )
    lines += ["", "Percent; std = sample standard deviation over folds (ddof=1)."]
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("\n".join(lines) + "\n")
    return "\n".join(lines)


def read_csv(path):
    """The rows of a CSV file as dicts."""
    with open(path, encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def fold_predictions(folder, labels, report):
    """``(ids, predictions, targets)`` of a fold's test utterances for the ``--report``
    evaluation (``predictions.csv``, or the arg-max of its ``test_scores_*.csv``)."""
    rows = read_csv(os.path.join(folder, "predictions.csv"))
    predictions = [labels.index(row["prediction"]) for row in rows]
    _, scores_file = REPORTS[report]
    if scores_file is not None:
        scores = {
            row["id"]: [float(row[f"logp_{label}"]) for label in labels]
            for row in read_csv(os.path.join(folder, scores_file))
        }
        predictions = [int(np.argmax(scores[row["id"]])) for row in rows]
    return [row["id"] for row in rows], predictions, [labels.index(row["target"]) for row in rows]


def plot_pooled_confusion(fold_results, labels, path, report="reported"):
    """Confusion matrix of all folds' test predictions together."""
    pooled = ClassificationMetrics(labels)
    for result in fold_results:
        pooled.append(*fold_predictions(result["folder"], labels, report))
    pooled.plot_confusion_matrix(
        path, title="All folds" if report == "reported" else f"All folds ({report})"
    )


def summary_paths(folder, report):
    """``results.md``, ``results.csv``, ``confusion_matrix.png`` (``results_<report>.md``...
    for another evaluation than the reported one)."""
    suffix = "" if report == "reported" else f"_{report}"
    return {
        key: os.path.join(folder, f"{stem}{suffix}.{ext}")
        for key, stem, ext in (
            ("markdown", "results", "md"),
            ("csv", "results", "csv"),
            ("confusion_matrix", "confusion_matrix", "png"),
        )
    }


def main(argv):
    """Runs the folds and writes the summary files; prints the Markdown table."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    args, train_args = parse_args(argv)
    try:
        fold_results = [run_fold(args, train_args, session) for session in args.folds]
        fold_results = [select_evaluation(result, args.report) for result in fold_results]
    except FoldError as error:
        sys.exit(f"cross_validate.py: {error}")
    hparams = resolved_hparams(args.hparams_file, train_args, args.folds[0])
    paths = summary_paths(str(hparams["experiment_folder"]), args.report)
    write_csv(fold_results, paths["csv"])
    table = write_markdown(fold_results, hparams, paths["markdown"], args.report)
    plot_pooled_confusion(
        fold_results, list(hparams["emotions"]), paths["confusion_matrix"], args.report
    )
    print(table)
    print("\nResults written to " + ", ".join(paths.values()))


if __name__ == "__main__":
    main(sys.argv[1:])
