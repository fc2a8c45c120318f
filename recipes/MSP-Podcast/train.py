#!/usr/bin/env python3
"""Recipe: dimensional speech emotion recognition (arousal, valence, dominance) on
MSP-Podcast with salient representations and label variance (Mitra et al., ICASSP 2024).

Frozen HuBERT-large (one hidden state, default layer 24, frames kept, cached on disk) ->
per-channel standardisation -> saliency-based feature selection (CCS, MIS) or PCA, fitted
on the training split's utterance means -> TC-GRU head -> CCC loss, optionally using the
raters' spread (``--loss_mode``). Checkpoints are selected and training is stopped early on
the validation mean CCC. Every labelled test partition is evaluated, plus noisy and
reverberant copies of ``test1`` at 20-30, 10-20 and 0-10 dB SNR (``make_noisy_sets.py``).

To run this recipe:
> python train.py hparams/hubert_tcgru.yaml --data_folder=/path/to/MSP-Podcast \\
      --saliency=ccs --keep_fraction=0.8 --loss_mode=kl_gauss

Outputs (in ``output_folder``):

* ``train_log.txt``, ``history.json``, ``training_curves.png`` (loss and mean CCC);
* ``model_size.json`` (downstream model size, and the full-input model it is compared to);
* per test split: ``test_<split>_results.json`` (CCC per dimension and mean, MSE per label
  bin, CCC of the predicted spread for the aux / kl_gauss modes), ``predictions_<split>.csv``
  (1..7 scale) and ``mse_per_bin_<split>.png`` (Fig. 4);
* ``results.md``: one row per test split, in the form of Tables 2-3, plus the MSE per bin;
* ``save/feature_selection.json``: the fitted input transforms, written once, reused on
  resume and with ``--test_only`` (``ser_modules.training.input_transforms``).

The multimodal model of the paper (Fig. 3; ``hparams/mitra_multimodal.yaml``) declares its
``acoustic_streams`` (frozen encoders joined channel-wise: ``training.acoustic_streams``) and
``lexical_streams`` (BERT embeddings of transcripts joined to the TC-GRU readout:
``training.lexical_streams``). Without them the recipe is the audio-only model.

Targets are trained on ``(y - 1) / 6`` (in [0, 1], as the MSP-Podcast baseline); predictions
are mapped back with ``6 p + 1`` for every reported number (CCC does not depend on it).

Authors
 * ser-recipes contributors 2026
"""

import logging
import os
import sys
from functools import partial
from pathlib import Path

import speechbrain as sb
import torch
from speechbrain.utils.distributed import if_main_process, main_process_only, run_on_main

from ser_modules.data.checks import check_ratings, crop, max_frames
from ser_modules.objectives.metrics import CCCMetrics
from ser_modules.training.acoustic_streams import extract_features
from ser_modules.training.brain import RecordingBrain, brain_arguments, evaluate_best, fit_brain
from ser_modules.training.experiment import finish_experiment, load_experiment
from ser_modules.training.identity import record_evaluation, record_inputs, record_training
from ser_modules.training.input_transforms import fit_input_transforms, load_input_transforms
from ser_modules.training.lexical_streams import lexical_features
from ser_modules.training.preparation import prepare_manifests
from ser_modules.training.results_table import write_results_table
from ser_modules.training.run_scope import debug_manifests, splits_to_extract
from ser_modules.utils.constants import (
    DIMENSIONS,
    EVAL13_SPLIT,
    RATING_BINS,
    RATING_SCALE,
    TEST_SPLIT_PATTERN,
)
from ser_modules.utils.files import json_safe, read_json, write_json_atomic

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # also when imported by path
from make_noisy_sets import make_noisy_sets, parse_snr_range, range_name  # noqa: E402
from model_sizes import log_model_size, model_size  # noqa: E402
from msp_podcast_prepare import prepare_msp_podcast  # noqa: E402 (this folder's preparation)

logger = logging.getLogger(__name__)

PREPARE_OPTIONS = ("data_folder", "min_duration", "eval13_partitions")
SPREAD_MODES = ("aux", "kl_gauss")
SELECTION_FILE = "feature_selection.json"
TRANSCRIPT_REMEDY = (
    "Add the release's Transcripts/<utt>.txt, or give a second ASR model instead:"
    " --second_transcripts=<CTC model id or folder>"
)
COLUMNS = ["Test set", "target variance", "saliency", "% input reps.", "↓ % rel. model size"]
COLUMNS += ["Act", "Val", "Dom", "Mean"]
BIN_HEADING = "MSE per label bin (Fig. 4; 1..7 scale, examples in parentheses)"


class DimensionalEmotionBrain(RecordingBrain):
    """Trains the TC-GRU head on cached, standardised and selected upstream frames."""

    curve_metrics = ("loss", "ccc_mean", "ccc_arousal", "ccc_valence")

    def compute_forward(self, batch, stage):
        """Frames -> standardiser -> selection -> TC-GRU: means (and raw spreads)."""
        batch = batch.to(self.device)
        feats, lengths = batch.feats
        frames = self.modules.selection(self.modules.standardizer(feats.float()))
        if "lexical_standardizer" not in self.modules:
            return self.modules.head(frames, lengths)
        lexical = self.modules.lexical_standardizer(batch.lexical.data.float())
        return self.modules.head(frames, lengths, lexical)

    def compute_objectives(self, predictions, batch, stage):
        """Variance-aware CCC loss on the normalised targets; predictions kept for metrics."""
        means, spreads = predictions if isinstance(predictions, tuple) else (predictions, None)
        offset, scale = self.hparams.label_offset, self.hparams.label_scale
        targets, target_std = batch.targets.data, batch.target_std.data
        loss = self.modules.loss(means, (targets - offset) / scale, spreads, target_std / scale)
        self.metrics.append(batch.id, means.detach() * scale + offset, targets)
        if spreads is not None and stage == sb.Stage.TEST:
            predicted_std = self.modules.loss.spread_to_std(spreads.detach()) * scale
            self.spread_metrics.append(batch.id, predicted_std, target_std)
        return loss

    def on_stage_start(self, stage, epoch=None):
        """Fresh accumulators; the loss follows the stage (sample mode draws in training only)."""
        self.metrics = CCCMetrics(DIMENSIONS)
        self.spread_metrics = CCCMetrics(DIMENSIONS)
        self.modules.loss.train(stage == sb.Stage.TRAIN)

    def summary(self, stage):
        """CCC per dimension and mean of the split (computed once over the split)."""
        return {k: v for k, v in self.metrics.summarize().items() if k != "num_samples"}

    def stats_meta(self, stage, epoch):
        """The epoch and learning rate, or the loaded epoch and the test split."""
        meta = super().stats_meta(stage, epoch)
        return meta if stage == sb.Stage.VALID else {**meta, "split": self.test_split}

    @main_process_only
    def on_test_end(self, stats):
        """Writes the split's results JSON, predictions CSV and MSE-per-bin plot."""
        out, split = self.hparams.output_folder, self.test_split
        bins = self.metrics.mse_per_label_bin(bins=RATING_BINS)
        mse_per_bin = {"bins": bins["bins"].tolist()}
        for key in ("mse", "count"):
            mse_per_bin[key] = {d: bins[key][d].tolist() for d in DIMENSIONS}
        epoch = self.hparams.epoch_counter.current
        results = {"split": split, "num_samples": len(self.metrics), "epoch": epoch, **stats}
        results["mse_per_bin"] = mse_per_bin
        if len(self.spread_metrics):
            spread = self.spread_metrics.summarize()
            results["spread_ccc"] = {k: v for k, v in spread.items() if k.startswith("ccc_")}
        write_json_atomic(json_safe(results), os.path.join(out, f"test_{split}_results.json"))
        self.metrics.write_predictions(os.path.join(out, f"predictions_{split}.csv"))
        self.metrics.plot_mse_per_bin(
            os.path.join(out, f"mse_per_bin_{split}.png"),
            bins=RATING_BINS,
            title=f"{split}: MSE per label bin (N={len(self.metrics)}; numbers = examples)",
        )


def required_splits(hparams, manifests):
    """The splits the run cannot do without: train, valid and the test splits it evaluates
    (``test_splits``; by default ``test1``, or ``test`` in releases that name it so).

    Example
    -------
    >>> required_splits({"test_splits": None}, {"train": "", "valid": "", "test": ""})
    ['train', 'valid', 'test']
    >>> required_splits({"test_splits": ["test2"]}, {})
    ['train', 'valid', 'test2']
    """
    tests = hparams["test_splits"] or ["test" if "test" in manifests else "test1"]
    return ["train", "valid", *tests]


def evaluation_manifests(hparams, manifests):
    """The test splits to evaluate: clean partitions, noisy copies, extra manifests."""
    wanted = hparams["test_splits"]
    clean = sorted(
        (name for name in manifests if TEST_SPLIT_PATTERN.match(name)), key=lambda n: (len(n), n)
    )
    if EVAL13_SPLIT in manifests:  # the test set of release 1.3 (Eval1.3), beside Eval1.6 = test1
        clean.append(EVAL13_SPLIT)
    if wanted is not None:  # all prepared: prepare_manifests checks required_splits
        clean = list(wanted)
    tests = {name: manifests[name] for name in clean}
    noisy = hparams["noisy_test_splits"]
    if noisy is None:  # default: the first clean test split (test1; "test" in some releases)
        noisy = clean[:1]
    for split in noisy:
        if split not in manifests:
            logger.warning("No %s partition: no noisy copies of it", split)
            continue
        tests.update(make_noisy_copies(hparams, manifests[split]))
    for path in hparams["extra_test_manifests"] or ():
        tests[Path(path).stem] = str(path)
    return tests


def make_noisy_copies(hparams, manifest):
    """Writes (once) the noisy + reverberant copies of a clean test manifest."""
    kwargs = {
        "manifest": manifest,
        "out_folder": hparams["noisy_folder"],
        "snr_ranges": [str(r) for r in hparams["snr_ranges"]],
        "noise_csv": hparams["noise_csv"],
        "rir_csv": hparams["rir_csv"],
        "seed": hparams["noisy_seed"],
        "progressbar": not hparams["noprogressbar"],
    }
    run_on_main(make_noisy_sets, kwargs=kwargs)
    split = Path(manifest).stem
    names = [f"{split}_{range_name(parse_snr_range(str(r)))}" for r in hparams["snr_ranges"]]
    return {name: str(Path(hparams["noisy_folder"]) / f"{name}.json") for name in names}


def dataio_prepare(manifests, frames, frame_limit=None, lexical=None):
    """Datasets of cached frames ``[frames, channels]``, rater means and spreads (and the
    joined lexical embeddings, ``lexical``, when ``lexical`` maps each wav to its vector).

    Frames beyond ``frame_limit`` (the ``max_duration``) are cropped; a rating that is not a
    number in 1..7 is an error naming the manifest (e.g. one of ``extra_test_manifests``).
    """
    for path in manifests.values():
        check_ratings(path, DIMENSIONS, *RATING_SCALE)

    @sb.utils.data_pipeline.takes("wav")
    @sb.utils.data_pipeline.provides("feats")
    def feature_pipeline(wav):
        return crop(frames.load(wav), frame_limit)

    @sb.utils.data_pipeline.takes(*DIMENSIONS)
    @sb.utils.data_pipeline.provides("targets")
    def target_pipeline(*values):
        return torch.tensor([float(v) for v in values])

    @sb.utils.data_pipeline.takes(*(f"{d}_std" for d in DIMENSIONS))
    @sb.utils.data_pipeline.provides("target_std")
    def spread_pipeline(*values):
        return torch.tensor([float(v) for v in values])

    items = [feature_pipeline, target_pipeline, spread_pipeline]
    keys = ["id", "feats", "targets", "target_std"]
    if lexical is not None:

        @sb.utils.data_pipeline.takes("wav")
        @sb.utils.data_pipeline.provides("lexical")
        def lexical_pipeline(wav):
            return lexical[wav]

        items, keys = items + [lexical_pipeline], keys + ["lexical"]
    return {
        split: sb.dataio.dataset.DynamicItemDataset.from_json(
            json_path=path, dynamic_items=items, output_keys=keys
        )
        for split, path in manifests.items()
    }


def write_results(hparams, splits, size):
    """Writes ``results.md`` (Tables 2-3 form, plus the MSE per label bin) and returns it."""
    out = Path(hparams["output_folder"])
    mode, method = hparams["loss_mode"], str(hparams["saliency"]).upper()
    variance = "w/o" if mode == "none" else f"w ({mode})"
    kept, total = size["kept_dimensions"], size["input_size"]
    reduction = "-" if kept == total else f"{size['relative_size_reduction_percent']:.0f}%"
    results = {split: read_json(out / f"test_{split}_results.json") for split in splits}
    rows = [
        [split, variance, method, f"{100 * kept / total:.0f}% ({kept}/{total})", reduction]
        + [f"{r[f'ccc_{d}']:.3f}" for d in (*DIMENSIONS, "mean")]
        for split, r in results.items()
    ]
    bins = [
        [split, dim]
        + [
            "-" if mse is None else f"{mse:.2f} ({n})"
            for mse, n in zip(r["mse_per_bin"]["mse"][dim], r["mse_per_bin"]["count"][dim])
        ]
        for split, r in results.items()
        for dim in DIMENSIONS
    ]
    default = f"{hparams['ssl_hub']} layer {hparams['ssl_layer']}, TC-GRU"
    title = f"MSP-Podcast: {hparams.get('results_title') or default}"
    notes = [
        f"Downstream model: {size['head_parameters']:,} parameters"
        f" ({size['head_megabytes_fp32']:.2f} MB in float32); {kept} of {total} input"
        f" dimensions kept ({method}).",
        "CCC on the 1..7 rating scale; model selected on the validation mean CCC.",
    ]
    bin_table = (BIN_HEADING, ["Test set", "dimension", *map(str, RATING_BINS)], bins)
    return write_results_table(out / "results.md", title, COLUMNS, rows, notes, [bin_table])


def main(argv):
    """Prepare, cache, fit the saliency step, train, evaluate every test split."""
    hparams, run_opts = load_experiment(argv, script=__file__)
    required = partial(required_splits, hparams)
    manifests = prepare_manifests(hparams, prepare_msp_podcast, PREPARE_OPTIONS, required=required)
    tests = evaluation_manifests(hparams, manifests)
    splits = {"train": manifests["train"], "valid": manifests["valid"], **tests}
    record_inputs(hparams, splits)
    splits = debug_manifests(hparams, run_opts, splits)  # --debug: a few batches of each
    used = list(splits_to_extract(splits, run_opts).values())
    # The lexical streams first: a missing transcript fails before any feature is extracted.
    lexical = lexical_features(hparams, used, TRANSCRIPT_REMEDY)
    frames = extract_features(hparams, used)
    frame_limit = max_frames(hparams["max_duration"], hparams["ssl"])

    selection_file = Path(hparams["save_folder"]) / SELECTION_FILE
    run_on_main(
        fit_input_transforms,
        args=[selection_file, hparams, frames, splits["train"], frame_limit, lexical],
    )
    load_input_transforms(selection_file, hparams)
    model, selection = hparams["model"], hparams["model"]["selection"]
    predict_spread = hparams["loss_mode"] in SPREAD_MODES
    # The head is built here, not when the yaml is loaded: its initial weights are drawn from
    # the global RNG after the noisy test sets (whose mixing draws from it too) are written.
    model["head"] = hparams["head"](predict_spread=predict_spread)
    full = hparams["head"](input_size=selection.input_size, predict_spread=predict_spread)
    size = model_size(model["head"], full, selection)
    log_model_size(size, selection.method)
    if if_main_process():
        write_json_atomic(size, os.path.join(hparams["output_folder"], "model_size.json"))

    datasets = dataio_prepare(splits, frames, frame_limit, lexical)
    brain = DimensionalEmotionBrain(
        **brain_arguments(hparams, run_opts, modules={**model, "loss": hparams["compute_cost"]})
    )
    fit_brain(brain, datasets)
    record_training(hparams, brain)
    for split in tests:
        brain.test_split = split
        evaluate_best(brain, datasets[split])
    if if_main_process():
        print(write_results(hparams, list(tests), size).split("\n## ")[0])
    record_evaluation(
        hparams, brain, [*(f"test_{split}_results.json" for split in tests), "results.md"]
    )
    finish_experiment()


if __name__ == "__main__":
    main(sys.argv[1:])
