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
* ``save/feature_selection.json``: the fitted input transforms, written once (the frame
  statistics of the standardiser, the kept indices and scores or the PCA projection); reused
  on resume and with ``--test_only``. Every checkpoint holds them too (in the ``model``).

Targets are trained on ``(y - 1) / 6`` (in [0, 1], as the MSP-Podcast baseline); predictions
are mapped back with ``6 p + 1`` for every reported number (CCC does not depend on it).

Authors
 * ser-recipes contributors 2026
"""

import json
import logging
import os
import sys
from pathlib import Path

import numpy as np
import speechbrain as sb
import torch
from speechbrain.utils.distributed import main_process_only, run_on_main
from tqdm import tqdm

from ser_modules.data.checks import apply_duration_limit, check_ratings, crop, max_frames
from ser_modules.nn.selection import selection_method
from ser_modules.nn.tc_gru import count_parameters
from ser_modules.objectives.metrics import CCCMetrics
from ser_modules.objectives.saliency import fit_selection
from ser_modules.training.experiment import finish_experiment, load_experiment
from ser_modules.training.feature_cache import build_feature_cache
from ser_modules.training.identity import record_evaluation, record_inputs, record_training
from ser_modules.training.plots import record_epoch
from ser_modules.training.run_scope import debug_manifests, splits_to_extract
from ser_modules.utils.constants import DIMENSIONS, TEST_SPLIT_PATTERN
from ser_modules.utils.files import json_safe, open_atomic, read_json, write_json_atomic

logger = logging.getLogger(__name__)

RECIPE_DIR = os.path.dirname(os.path.abspath(__file__))
SPREAD_MODES = ("aux", "kl_gauss")
SELECTION_FILE = "feature_selection.json"
BINS = (1, 2, 3, 4, 5, 6, 7)


class DimensionalEmotionBrain(sb.Brain):
    """Trains the TC-GRU head on cached, standardised and selected upstream frames."""

    def compute_forward(self, batch, stage):
        """Frames -> standardiser -> selection -> TC-GRU: means (and raw spreads)."""
        batch = batch.to(self.device)
        feats, lengths = batch.feats
        frames = self.modules.selection(self.modules.standardizer(feats.float()))
        return self.modules.head(frames, lengths)

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

    def summary(self, stage_loss):
        """Loss and CCC per dimension and mean of the split (computed once over the split)."""
        stats = {"loss": stage_loss}
        stats.update({k: v for k, v in self.metrics.summarize().items() if k != "num_samples"})
        return stats

    def on_stage_end(self, stage, stage_loss, epoch=None):
        """Logs, early stopping and checkpointing on valid mean CCC, test outputs."""
        stats = self.summary(stage_loss)
        if stage == sb.Stage.TRAIN:
            self.train_stats = stats
            return
        if stage == sb.Stage.VALID:
            self.hparams.epoch_counter.update_metric(stats["ccc_mean"])
            self.hparams.train_logger.log_stats(
                stats_meta={"epoch": epoch, "lr": self.hparams.lr},
                train_stats=self.train_stats,
                valid_stats=stats,
            )
            self.record_history(epoch, stats)
            self.checkpointer.save_and_keep_only(meta=stats, max_keys=["ccc_mean"])
            return
        self.hparams.train_logger.log_stats(
            stats_meta={"Epoch loaded": self.hparams.epoch_counter.current, "split": self.test_split},
            test_stats=stats,
        )
        self.write_test_outputs(stats)

    @main_process_only
    def record_history(self, epoch, valid_stats):
        """Appends the epoch to ``history.json`` and redraws ``training_curves.png``."""
        curves = ("loss", "ccc_mean", "ccc_arousal", "ccc_valence")
        record_epoch(self.hparams.output_folder, epoch, self.train_stats, valid_stats, curves)

    @main_process_only
    def write_test_outputs(self, stats):
        """Writes the split's results JSON, predictions CSV and MSE-per-bin plot."""
        out, split = self.hparams.output_folder, self.test_split
        bins = self.metrics.mse_per_label_bin(bins=BINS)
        results = {
            "split": split,
            "num_samples": len(self.metrics),
            "epoch": self.hparams.epoch_counter.current,
            **stats,
            "mse_per_bin": {
                "bins": bins["bins"].tolist(),
                "mse": {d: bins["mse"][d].tolist() for d in DIMENSIONS},
                "count": {d: bins["count"][d].tolist() for d in DIMENSIONS},
            },
        }
        if len(self.spread_metrics):
            spread = self.spread_metrics.summarize()
            results["spread_ccc"] = {k: v for k, v in spread.items() if k.startswith("ccc_")}
        write_json_atomic(json_safe(results), os.path.join(out, f"test_{split}_results.json"))
        self.metrics.write_predictions(os.path.join(out, f"predictions_{split}.csv"))
        self.metrics.plot_mse_per_bin(
            os.path.join(out, f"mse_per_bin_{split}.png"),
            bins=BINS,
            title=f"{split}: MSE per label bin (N={len(self.metrics)}; numbers = examples)",
        )


# --------------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------------
def prepare_manifests(hparams):
    """Runs the data preparation and returns ``{split: manifest path}`` (train, valid, tests).

    With ``max_duration``, the long utterances are listed and logged per manifest; with
    ``long_utterance: skip`` the training manifest without them is returned.
    """
    sys.path.insert(0, RECIPE_DIR)
    from msp_podcast_prepare import prepare_msp_podcast  # noqa: E402

    kwargs = {
        "data_folder": hparams["data_folder"],
        "save_folder": hparams["manifest_folder"],
        "min_duration": hparams["min_duration"],
    }
    if not hparams["skip_prep"]:
        run_on_main(prepare_msp_podcast, kwargs=kwargs)
    options = json.loads((Path(hparams["manifest_folder"]) / "prepare_options.json").read_text())
    names = options["manifests"]
    names = names if isinstance(names, list) else list(names)
    manifests = {name: str(Path(hparams["manifest_folder"]) / f"{name}.json") for name in names}
    for needed in ("train", "valid"):
        if needed not in manifests:
            raise ValueError(f"the release has no {needed} partition (manifests: {sorted(manifests)})")
    return apply_duration_limit(manifests, hparams["max_duration"], hparams["long_utterance"])


def test_manifests(hparams, manifests):
    """The test splits to evaluate: clean partitions, noisy copies, extra manifests."""
    wanted = hparams["test_splits"]
    clean = sorted((name for name in manifests if TEST_SPLIT_PATTERN.match(name)), key=lambda n: (len(n), n))
    if wanted is not None:
        missing = sorted(set(wanted) - set(manifests))
        if missing:
            raise ValueError(f"test_splits {missing} not found (manifests: {sorted(manifests)})")
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
    sys.path.insert(0, RECIPE_DIR)
    from make_noisy_sets import make_noisy_sets, parse_snr_range, range_name  # noqa: E402

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


def extract_features(hparams, manifest_paths):
    """Extracts (once) the selected hidden state of every utterance; returns cache, index."""
    ssl = hparams["ssl"]
    layer = int(hparams["ssl_layer"])
    if not 0 <= layer < ssl.num_hidden_states:
        raise ValueError(f"ssl_layer={layer}, but {hparams['ssl_hub']} has {ssl.num_hidden_states} hidden states")
    all_layers = hparams["cache_all_hidden_states"]
    cache = build_feature_cache(hparams, ssl, manifest_paths, layers=None if all_layers else [layer])
    ssl.to("cpu")
    return cache, (layer if all_layers else 0)


def dataio_prepare(manifests, cache, layer_index, frame_limit=None):
    """Datasets of cached frames ``[frames, channels]``, rater means and spreads.

    Frames beyond ``frame_limit`` (the ``max_duration``) are cropped; a rating that is not a
    number in 1..7 is an error naming the manifest (e.g. one of ``extra_test_manifests``).
    """
    for path in manifests.values():
        check_ratings(path, DIMENSIONS, 1.0, 7.0)

    @sb.utils.data_pipeline.takes("wav")
    @sb.utils.data_pipeline.provides("feats")
    def feature_pipeline(wav):
        return crop(cache.load(wav)[:, layer_index], frame_limit)

    @sb.utils.data_pipeline.takes(*DIMENSIONS)
    @sb.utils.data_pipeline.provides("targets")
    def target_pipeline(*values):
        return torch.tensor([float(v) for v in values])

    @sb.utils.data_pipeline.takes(*(f"{d}_std" for d in DIMENSIONS))
    @sb.utils.data_pipeline.provides("target_std")
    def spread_pipeline(*values):
        return torch.tensor([float(v) for v in values])

    return {
        split: sb.dataio.dataset.DynamicItemDataset.from_json(
            json_path=path,
            dynamic_items=[feature_pipeline, target_pipeline, spread_pipeline],
            output_keys=["id", "feats", "targets", "target_std"],
        )
        for split, path in manifests.items()
    }


# --------------------------------------------------------------------------------------------
# Saliency step
# --------------------------------------------------------------------------------------------
def utterance_statistics(cache, layer_index, train_manifest, progressbar=True, frame_limit=None):
    """Utterance means ``[N, C]``, targets ``[N, 3]`` and frame mean / std ``[C]`` of train.

    Arguments
    ---------
    cache : FeatureCache
        The features.
    layer_index : int
        Hidden state index in the cache entries.
    train_manifest : str
        The training manifest.
    progressbar : bool
        Show a progress bar.
    frame_limit : int, optional
        Frames kept per utterance (``max_duration``), as in training.

    Returns
    -------
    tuple
        ``(means, targets, frame_mean, frame_std)``, float64 numpy arrays.
    """
    entries = read_json(train_manifest)
    means, targets = [], []
    total = total_sq = None
    frames = 0
    for entry in tqdm(entries.values(), desc="train utterance means", disable=not progressbar):
        feats = crop(cache.load(entry["wav"])[:, layer_index], frame_limit).to(torch.float64)
        if total is None:
            total, total_sq = torch.zeros(feats.shape[1], dtype=torch.float64), torch.zeros(feats.shape[1], dtype=torch.float64)
        means.append(feats.mean(dim=0))
        total += feats.sum(dim=0)
        total_sq += (feats * feats).sum(dim=0)
        frames += feats.shape[0]
        targets.append([float(entry[d]) for d in DIMENSIONS])
    frame_mean = total / frames
    frame_std = (total_sq / frames - frame_mean**2).clamp(min=0).sqrt()
    return torch.stack(means).numpy(), np.asarray(targets), frame_mean.numpy(), frame_std.numpy()


def fit_input_transforms(hparams, cache, layer_index, train_manifest):
    """Fits the standardiser and the selection on the train split, unless ``feature_selection.json``
    exists: that one file records the step and is written last (atomically)."""
    path = Path(hparams["save_folder"]) / SELECTION_FILE
    if path.exists():
        logger.info("Reusing the fitted input transforms of %s", path)
        return
    means, targets, frame_mean, frame_std = utterance_statistics(
        cache, layer_index, train_manifest, progressbar=not hparams["noprogressbar"],
        frame_limit=max_frames(hparams["max_duration"], hparams["ssl"]),
    )
    standardizer = hparams["model"]["standardizer"]
    standardizer.set_statistics(torch.from_numpy(frame_mean), torch.from_numpy(frame_std))
    standardized = (means - frame_mean) / standardizer.std.double().numpy()
    logger.info(
        "Fitting %s (keep %s) on %d training utterance means of %d dimensions",
        hparams["saliency"], hparams["keep_fraction"], *standardized.shape,
    )
    fitted = fit_selection(
        hparams["saliency"], standardized, targets, hparams["keep_fraction"], seed=hparams["seed"],
        n_neighbors=hparams["mis_neighbors"], max_samples=hparams["mis_max_samples"],
    )
    record = {"num_train_utterances": int(standardized.shape[0]), **fitted, "frame_mean": frame_mean, "frame_std": frame_std}
    write_json_atomic({key: value.tolist() if isinstance(value, np.ndarray) else value for key, value in record.items()}, path)


def load_input_transforms(hparams):
    """Fills the model's standardiser and selection from ``feature_selection.json``."""
    path = Path(hparams["save_folder"]) / SELECTION_FILE
    record = read_json(path)
    method, keep = selection_method(hparams["saliency"]), hparams["keep_fraction"]
    if record["method"] != method or (method != "none" and abs(record["keep_fraction"] - keep) > 1e-9):
        raise ValueError(
            f"{path} holds a {record['method']} selection keeping {record['keep_fraction']}, "
            f"but the hparams ask for {method} keeping {keep}: use another output_folder"
        )
    standardizer, selection = hparams["model"]["standardizer"], hparams["model"]["selection"]
    if record["input_size"] != selection.input_size:
        raise ValueError(f"{path} was fitted on {record['input_size']} dimensions, the upstream has {selection.input_size}")
    standardizer.set_statistics(*(torch.tensor(record[key], dtype=torch.float64) for key in ("frame_mean", "frame_std")))
    selection.load_state_dict({name: torch.tensor(record[name], dtype=buffer.dtype) for name, buffer in selection.state_dict().items()})


def model_size(hparams, head, selection, predict_spread):
    """Downstream model size, and the size of the same head on all input dimensions (that head
    is built, so it draws its initial weights from the global RNG, as it always did)."""
    params = count_parameters(head)
    full = count_parameters(hparams["head"](input_size=selection.input_size, predict_spread=predict_spread))
    return {
        "input_size": selection.input_size,
        "kept_dimensions": selection.output_size,
        "head_parameters": params,
        "head_megabytes_fp32": params * 4 / 1e6,
        "full_input_head_parameters": full,
        "relative_size_reduction_percent": 100.0 * (1 - params / full),
        "selector_stored_values": sum(buffer.numel() for buffer in selection.buffers()),
    }


# --------------------------------------------------------------------------------------------
# Results table
# --------------------------------------------------------------------------------------------
def write_results_table(hparams, splits, size):
    """Writes ``results.md`` (Tables 2-3 form, plus the MSE per label bin) and returns it."""
    out = Path(hparams["output_folder"])
    mode = hparams["loss_mode"]
    variance = "w/o" if mode == "none" else f"w ({mode})"
    method = str(hparams["saliency"]).upper()
    kept = f"{100 * size['kept_dimensions'] / size['input_size']:.0f}% ({size['kept_dimensions']}/{size['input_size']})"
    reduction = "-" if size["kept_dimensions"] == size["input_size"] else f"{size['relative_size_reduction_percent']:.0f}%"
    lines = [
        f"# MSP-Podcast: {hparams['ssl_hub']} layer {hparams['ssl_layer']}, TC-GRU",
        "",
        f"Downstream model: {size['head_parameters']:,} parameters ({size['head_megabytes_fp32']:.2f} MB in float32); "
        f"{size['kept_dimensions']} of {size['input_size']} input dimensions kept ({method}).",
        "CCC on the 1..7 rating scale; model selected on the validation mean CCC.",
        "",
        "| Test set | target variance | saliency | % input reps. | ↓ % rel. model size | Act | Val | Dom | Mean |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    results = {}
    for split in splits:
        results[split] = json.loads((out / f"test_{split}_results.json").read_text())
        r = results[split]
        lines.append(
            f"| {split} | {variance} | {method} | {kept} | {reduction} | {r['ccc_arousal']:.3f} | "
            f"{r['ccc_valence']:.3f} | {r['ccc_dominance']:.3f} | {r['ccc_mean']:.3f} |"
        )
    lines += ["", "## MSE per label bin (Fig. 4; 1..7 scale, examples in parentheses)", ""]
    lines.append("| Test set | dimension | " + " | ".join(str(b) for b in BINS) + " |")
    lines.append("| --- | --- |" + " --- |" * len(BINS))
    for split, r in results.items():
        for dim in DIMENSIONS:
            cells = [
                "-" if mse is None else f"{mse:.2f} ({n})"
                for mse, n in zip(r["mse_per_bin"]["mse"][dim], r["mse_per_bin"]["count"][dim])
            ]
            lines.append(f"| {split} | {dim} | " + " | ".join(cells) + " |")
    text = "\n".join(lines) + "\n"
    with open_atomic(out / "results.md") as handle:
        handle.write(text)
    return text


# --------------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------------
def main(argv):
    """Prepare, cache, fit the saliency step, train, evaluate every test split."""
    hparams, run_opts = load_experiment(argv, script=__file__)

    manifests = prepare_manifests(hparams)
    tests = test_manifests(hparams, manifests)
    splits = {"train": manifests["train"], "valid": manifests["valid"], **tests}
    record_inputs(hparams, splits)
    splits = debug_manifests(hparams, run_opts, splits)  # --debug: a few batches of each
    cache, layer_index = extract_features(hparams, splits_to_extract(splits, run_opts).values())

    run_on_main(fit_input_transforms, args=[hparams, cache, layer_index, splits["train"]])
    load_input_transforms(hparams)
    model, selection = hparams["model"], hparams["model"]["selection"]
    predict_spread = hparams["loss_mode"] in SPREAD_MODES
    # The head is built here, not when the yaml is loaded: its initial weights are drawn from
    # the global RNG after the noisy test sets (whose mixing draws from it too) are written.
    model["head"] = hparams["head"](predict_spread=predict_spread)
    size = model_size(hparams, model["head"], selection, predict_spread)
    logger.info(
        "Downstream model: %d parameters (%.2f MB fp32) on %d of %d input dimensions (%s); "
        "%.1f%% smaller than on all dimensions (%d parameters)",
        size["head_parameters"], size["head_megabytes_fp32"], size["kept_dimensions"], size["input_size"],
        selection.method, size["relative_size_reduction_percent"], size["full_input_head_parameters"],
    )
    if sb.utils.distributed.if_main_process():
        write_json_atomic(size, os.path.join(hparams["output_folder"], "model_size.json"))

    datasets = dataio_prepare(splits, cache, layer_index, max_frames(hparams["max_duration"], hparams["ssl"]))
    brain = DimensionalEmotionBrain(
        modules={**model, "loss": hparams["compute_cost"]},
        opt_class=hparams["opt_class"],
        hparams=hparams,
        run_opts=run_opts,
        checkpointer=hparams["checkpointer"],
    )
    brain.fit(
        brain.hparams.epoch_counter,
        datasets["train"],
        datasets["valid"],
        train_loader_kwargs=hparams["train_dataloader_opts"],
        valid_loader_kwargs=hparams["valid_dataloader_opts"],
    )
    record_training(hparams, brain)
    for split in tests:
        brain.test_split = split
        brain.evaluate(datasets[split], max_key="ccc_mean", test_loader_kwargs=dict(hparams["test_dataloader_opts"]))
    if sb.utils.distributed.if_main_process():
        table = write_results_table(hparams, list(tests), size)
        print(table.split("\n## ")[0])
    record_evaluation(hparams, brain, [*(f"test_{split}_results.json" for split in tests), "results.md"])
    finish_experiment()


if __name__ == "__main__":
    main(sys.argv[1:])
