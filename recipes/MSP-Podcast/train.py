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

The multimodal model of the paper (Fig. 3; ``hparams/mitra_multimodal.yaml``) declares its
streams in the yaml: ``acoustic_streams`` (hidden states of several frozen encoders, e.g.
HuBERT_L and HuBERT_A, each cached, joined channel-wise before the standardiser and the
selection) and ``lexical_streams`` (transcripts: ``release`` for the manifests' ``transcript``
field, or a CTC model whose greedy transcripts are cached; normalised, embedded once by a frozen
BERT, standardised, and joined to the TC-GRU readout). Without those keys the recipe is the
audio-only model of ``hparams/hubert_tcgru.yaml``.

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

from ser_modules.data.checks import (
    apply_duration_limit,
    check_ratings,
    check_required_splits,
    crop,
    max_frames,
)
from ser_modules.data.manifests import recorded_manifests
from ser_modules.data.text import normalize_text
from ser_modules.nn.bert_encoder import BertEncoder
from ser_modules.nn.ctc_asr import CTCTranscriber
from ser_modules.nn.multimodal import join_frames
from ser_modules.nn.selection import selection_method
from ser_modules.nn.tc_gru import count_parameters
from ser_modules.objectives.metrics import CCCMetrics
from ser_modules.objectives.saliency import fit_selection
from ser_modules.training.checkpoint_averaging import keep_best_checkpoints
from ser_modules.training.experiment import finish_experiment, load_experiment
from ser_modules.training.feature_cache import build_feature_cache
from ser_modules.training.identity import record_evaluation, record_inputs, record_training
from ser_modules.training.plots import record_epoch
from ser_modules.training.run_scope import debug_manifests, splits_to_extract
from ser_modules.training.text_embeddings import build_text_embedding_cache
from ser_modules.training.transcription import build_transcript_cache
from ser_modules.utils.constants import (
    DIMENSIONS,
    EVAL13_SPLIT,
    RATING_BINS,
    RATING_SCALE,
    TEST_SPLIT_PATTERN,
)
from ser_modules.utils.files import json_safe, open_atomic, read_json, write_json_atomic

logger = logging.getLogger(__name__)

RECIPE_DIR = os.path.dirname(os.path.abspath(__file__))
SPREAD_MODES = ("aux", "kl_gauss")
SELECTION_FILE = "feature_selection.json"
RELEASE_TRANSCRIPTS = "release"


class DimensionalEmotionBrain(sb.Brain):
    """Trains the TC-GRU head on cached, standardised and selected upstream frames."""

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
            keep_best_checkpoints(
                self.checkpointer, stats, self.hparams.checkpoint_key, self.hparams.keep_checkpoints
            )
            return
        self.hparams.train_logger.log_stats(
            stats_meta={
                "Epoch loaded": self.hparams.epoch_counter.current,
                "split": self.test_split,
            },
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
        bins = self.metrics.mse_per_label_bin(bins=RATING_BINS)
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
            bins=RATING_BINS,
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
        "eval13_partitions": hparams["eval13_partitions"],
        "progressbar": not hparams["noprogressbar"],
    }
    if not hparams["skip_prep"]:
        run_on_main(prepare_msp_podcast, kwargs=kwargs)
    recorded = recorded_manifests(hparams["manifest_folder"])
    manifests = {name: str(path) for name, path in recorded.items()}
    check_required_splits(
        manifests, required_splits(hparams, manifests), hparams["manifest_folder"]
    )
    return apply_duration_limit(manifests, hparams["max_duration"], hparams["long_utterance"])


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


class CachedFrames:
    """The frames ``[frames, channels]`` of an audio file: one cached hidden state per acoustic
    stream, joined channel-wise in the order of the streams (one stream: that hidden state).

    Arguments
    ---------
    streams : list of tuple
        ``(FeatureCache, index of the hidden state in its entries)`` per stream.
    """

    def __init__(self, streams):
        self.streams = list(streams)

    def load(self, wav):
        """The (float16) frames of ``wav``."""
        return join_frames([cache.load(wav)[:, index] for cache, index in self.streams], where=wav)


def acoustic_streams(hparams):
    """``[(encoder, layer, name, layer key)]``: the yaml's ``acoustic_streams`` (entries with
    ``encoder``, ``layer``, ``name``), or the one stream ``ssl`` / ``ssl_layer``."""
    if hparams.get("acoustic_streams"):
        return [
            (s["encoder"], int(s["layer"]), s["name"], "acoustic_streams layer")
            for s in hparams["acoustic_streams"]
        ]
    return [(hparams["ssl"], int(hparams["ssl_layer"]), hparams["ssl_hub"], "ssl_layer")]


def extract_features(hparams, manifest_paths):
    """Extracts (once) the selected hidden state of every acoustic stream and utterance."""
    all_layers = hparams["cache_all_hidden_states"]
    streams = []
    for ssl, layer, name, key in acoustic_streams(hparams):
        if not 0 <= layer < ssl.num_hidden_states:
            raise ValueError(f"{key}={layer}, but {name} has {ssl.num_hidden_states} hidden states")
        cache = build_feature_cache(
            hparams, ssl, manifest_paths, layers=None if all_layers else [layer]
        )
        ssl.to("cpu")
        streams.append((cache, layer if all_layers else 0))
    return CachedFrames(streams)


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

    items, keys = (
        [feature_pipeline, target_pipeline, spread_pipeline],
        [
            "id",
            "feats",
            "targets",
            "target_std",
        ],
    )
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


# --------------------------------------------------------------------------------------------
# Lexical streams (multimodal model)
# --------------------------------------------------------------------------------------------
def stream_transcripts(hparams, source, manifest_paths):
    """``{wav: transcript}`` of one lexical stream over the manifests (not normalised).

    ``source`` is ``release`` (the manifests' ``transcript`` field, from the release's
    ``Transcripts/``; a noisy copy keeps its clean utterance's transcript) or a CTC model (Hub
    id or folder) whose greedy transcripts are cached (``transcript_cache_folder``).
    """
    if str(source) == RELEASE_TRANSCRIPTS:
        texts = {}
        for path in manifest_paths:
            entries = read_json(path)
            without = [utt for utt, entry in entries.items() if "transcript" not in entry]
            empty = [
                utt
                for utt, entry in entries.items()
                if not str(entry.get("transcript", "x")).strip()
            ]
            if without:
                raise ValueError(
                    f"{path}: {len(without)} entries (e.g. {without[0]}) have no transcript field:"
                    " the release has no Transcripts/ folder. Give a second ASR model instead:"
                    " --second_transcripts=<CTC model id or folder>"
                )
            if empty and not hparams["allow_empty_transcripts"]:
                raise ValueError(
                    f"{path}: {len(empty)} entries (e.g. {empty[0]}) have an empty transcript (no"
                    " Transcripts/<utt>.txt in the release). Add the files, use"
                    " --second_transcripts=<CTC model id or folder>, or accept empty texts with"
                    " --allow_empty_transcripts=True"
                )
            texts.update({entry["wav"]: entry["transcript"] for entry in entries.values()})
        return texts
    transcriber = CTCTranscriber(str(source), save_path=hparams["ssl_folder"])
    cache = build_transcript_cache(hparams, transcriber, manifest_paths)
    wavs = [entry["wav"] for path in manifest_paths for entry in read_json(path).values()]
    return {wav: cache.load(wav) for wav in wavs}


def lexical_features(hparams, manifest_paths):
    """``{wav: joined lexical embeddings}`` of the yaml's ``lexical_streams`` (None without).

    Every stream's transcripts are normalised (lower case, no punctuation), embedded once by
    the frozen BERT (mean of its last hidden state over the tokens, cached in
    ``text_embedding_cache_folder``) and joined in the order of the streams. Under DDP every
    process transcribes its share of the files; the main process embeds the texts, the others
    then read the cache.
    """
    sources = hparams.get("lexical_streams")
    if not sources:
        return None
    manifest_paths = list(manifest_paths)
    bert = BertEncoder(hparams["bert_hub"], save_path=hparams["bert_folder"], freeze=True)
    layers = bert.model.config.num_hidden_layers
    if int(hparams["bert_layer"]) != layers:
        raise ValueError(
            f"bert_layer={hparams['bert_layer']}, but the utterance embeddings are taken from the"
            f" last layer, and {hparams['bert_hub']} has {layers}: set --bert_layer={layers} or use"
            " a BERT with that many layers"
        )
    if bert.hidden_size != int(hparams["lexical_size"]):
        raise ValueError(
            f"lexical_size={hparams['lexical_size']}, but {hparams['bert_hub']} gives"
            f" {bert.hidden_size}-d embeddings"
        )
    # The release's transcripts first: a missing one is an error before any transcription.
    order = sorted(range(len(sources)), key=lambda i: str(sources[i]) != RELEASE_TRANSCRIPTS)
    transcripts = {i: stream_transcripts(hparams, sources[i], manifest_paths) for i in order}
    streams = [
        {wav: normalize_text(text) for wav, text in transcripts[i].items()}
        for i in range(len(sources))
    ]
    for source, texts in zip(sources, streams):
        logger.info(
            "Lexical stream %s: %d files, %d empty after normalisation",
            source,
            len(texts),
            sum(not text for text in texts.values()),
        )
    texts = sorted({text for texts in streams for text in texts.values()})
    run_on_main(build_text_embedding_cache, args=[hparams, bert, texts])
    cache = build_text_embedding_cache(hparams, bert, texts)  # every text is cached now: reads only
    return {wav: torch.cat([cache.load(texts[wav]) for texts in streams]) for wav in streams[0]}


# --------------------------------------------------------------------------------------------
# Saliency step
# --------------------------------------------------------------------------------------------
def utterance_statistics(frame_source, train_manifest, progressbar=True, frame_limit=None):
    """Utterance means ``[N, C]``, targets ``[N, 3]`` and frame mean / std ``[C]`` of train.

    Arguments
    ---------
    frame_source : CachedFrames
        The features.
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
        feats = crop(frame_source.load(entry["wav"]), frame_limit).to(torch.float64)
        if total is None:
            total, total_sq = (
                torch.zeros(feats.shape[1], dtype=torch.float64),
                torch.zeros(feats.shape[1], dtype=torch.float64),
            )
        means.append(feats.mean(dim=0))
        total += feats.sum(dim=0)
        total_sq += (feats * feats).sum(dim=0)
        frames += feats.shape[0]
        targets.append([float(entry[d]) for d in DIMENSIONS])
    frame_mean = total / frames
    frame_std = (total_sq / frames - frame_mean**2).clamp(min=0).sqrt()
    return torch.stack(means).numpy(), np.asarray(targets), frame_mean.numpy(), frame_std.numpy()


def fit_input_transforms(hparams, frames, train_manifest, lexical=None):
    """Fits the standardiser and the selection on the train split, unless ``feature_selection.json``
    exists: that one file records the step and is written last (atomically). With ``lexical``
    (``{wav: vector}``), the statistics of the lexical standardiser are recorded too."""
    path = Path(hparams["save_folder"]) / SELECTION_FILE
    if path.exists():
        logger.info("Reusing the fitted input transforms of %s", path)
        return
    means, targets, frame_mean, frame_std = utterance_statistics(
        frames,
        train_manifest,
        progressbar=not hparams["noprogressbar"],
        frame_limit=max_frames(hparams["max_duration"], hparams["ssl"]),
    )
    standardizer = hparams["model"]["standardizer"]
    standardizer.set_statistics(torch.from_numpy(frame_mean), torch.from_numpy(frame_std))
    standardized = (means - frame_mean) / standardizer.std.double().numpy()
    logger.info(
        "Fitting %s (keep %s) on %d training utterance means of %d dimensions",
        hparams["saliency"],
        hparams["keep_fraction"],
        *standardized.shape,
    )
    fitted = fit_selection(
        hparams["saliency"],
        standardized,
        targets,
        hparams["keep_fraction"],
        seed=hparams["seed"],
        n_neighbors=hparams["mis_neighbors"],
        max_samples=hparams["mis_max_samples"],
        n_jobs=hparams["mis_n_jobs"],
        progressbar=not hparams["noprogressbar"],
    )
    record = {
        "num_train_utterances": int(standardized.shape[0]),
        **fitted,
        "frame_mean": frame_mean,
        "frame_std": frame_std,
    }
    if lexical is not None:
        record.update(
            lexical_statistics(lexical, train_manifest), lexical_identity=lexical_identity(hparams)
        )
    write_json_atomic(
        {
            key: value.tolist() if isinstance(value, np.ndarray) else value
            for key, value in record.items()
        },
        path,
    )


def lexical_identity(hparams):
    """What the lexical vectors are made of: the transcript sources (in order) and the BERT."""
    return {
        "lexical_streams": [str(source) for source in hparams["lexical_streams"]],
        "bert_hub": str(hparams["bert_hub"]),
    }


def lexical_statistics(lexical, train_manifest):
    """Mean and (population) standard deviation of the lexical vectors of the training split."""
    vectors = torch.stack(
        [lexical[entry["wav"]] for entry in read_json(train_manifest).values()]
    ).double()
    return {
        "lexical_mean": vectors.mean(dim=0).numpy(),
        "lexical_std": vectors.std(dim=0, unbiased=False).numpy(),
    }


def load_input_transforms(hparams):
    """Fills the model's standardiser and selection from ``feature_selection.json``."""
    path = Path(hparams["save_folder"]) / SELECTION_FILE
    record = read_json(path)
    method, keep = selection_method(hparams["saliency"]), hparams["keep_fraction"]
    if record["method"] != method or (
        method != "none" and abs(record["keep_fraction"] - keep) > 1e-9
    ):
        raise ValueError(
            f"{path} holds a {record['method']} selection keeping {record['keep_fraction']}, "
            f"but the hparams ask for {method} keeping {keep}: use another output_folder"
        )
    standardizer, selection = hparams["model"]["standardizer"], hparams["model"]["selection"]
    if record["input_size"] != selection.input_size:
        raise ValueError(
            f"{path} was fitted on {record['input_size']} dimensions, the upstream has"
            f" {selection.input_size}"
        )
    standardizer.set_statistics(
        *(torch.tensor(record[key], dtype=torch.float64) for key in ("frame_mean", "frame_std"))
    )
    selection.load_state_dict(
        {
            name: torch.tensor(record[name], dtype=buffer.dtype)
            for name, buffer in selection.state_dict().items()
        }
    )
    if "lexical_standardizer" in hparams["model"]:
        if "lexical_mean" not in record:
            raise ValueError(
                f"{path} has no lexical statistics (an audio-only experiment): use another"
                " output_folder"
            )
        if record["lexical_identity"] != lexical_identity(hparams):
            raise ValueError(
                f"{path} was fitted on the lexical streams {record['lexical_identity']}, the"
                f" hparams ask for {lexical_identity(hparams)}: use another output_folder"
            )
        stats = [
            torch.tensor(record[key], dtype=torch.float64)
            for key in ("lexical_mean", "lexical_std")
        ]
        if stats[0].numel() != len(hparams["lexical_streams"]) * int(hparams["lexical_size"]):
            raise ValueError(
                f"{path} holds {stats[0].numel()} lexical dimensions, the hparams ask for"
                f" {len(hparams['lexical_streams'])} x {hparams['lexical_size']}: use another"
                " output_folder"
            )
        hparams["model"]["lexical_standardizer"].set_statistics(*stats)


def model_size(hparams, head, selection, predict_spread):
    """Downstream model size, and the size of the same head on all input dimensions (that head
    is built, so it draws its initial weights from the global RNG, as it always did)."""
    params = count_parameters(head)
    full = count_parameters(
        hparams["head"](input_size=selection.input_size, predict_spread=predict_spread)
    )
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
    default_title = f"{hparams['ssl_hub']} layer {hparams['ssl_layer']}, TC-GRU"
    kept = (
        f"{100 * size['kept_dimensions'] / size['input_size']:.0f}%"
        f" ({size['kept_dimensions']}/{size['input_size']})"
    )
    reduction = (
        "-"
        if size["kept_dimensions"] == size["input_size"]
        else f"{size['relative_size_reduction_percent']:.0f}%"
    )
    lines = [
        f"# MSP-Podcast: {hparams.get('results_title') or default_title}",
        "",
        (
            f"Downstream model: {size['head_parameters']:,} parameters"
            f" ({size['head_megabytes_fp32']:.2f} MB in float32); {size['kept_dimensions']} of"
            f" {size['input_size']} input dimensions kept ({method})."
        ),
        "CCC on the 1..7 rating scale; model selected on the validation mean CCC.",
        "",
        (
            "| Test set | target variance | saliency | % input reps. | ↓ % rel. model size | Act |"
            " Val | Dom | Mean |"
        ),
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
    lines.append("| Test set | dimension | " + " | ".join(str(b) for b in RATING_BINS) + " |")
    lines.append("| --- | --- |" + " --- |" * len(RATING_BINS))
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
    tests = evaluation_manifests(hparams, manifests)
    splits = {"train": manifests["train"], "valid": manifests["valid"], **tests}
    record_inputs(hparams, splits)
    splits = debug_manifests(hparams, run_opts, splits)  # --debug: a few batches of each
    used = list(splits_to_extract(splits, run_opts).values())
    lexical = lexical_features(hparams, used)  # first: a missing transcript fails fast
    frames = extract_features(hparams, used)

    run_on_main(fit_input_transforms, args=[hparams, frames, splits["train"], lexical])
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
        size["head_parameters"],
        size["head_megabytes_fp32"],
        size["kept_dimensions"],
        size["input_size"],
        selection.method,
        size["relative_size_reduction_percent"],
        size["full_input_head_parameters"],
    )
    if sb.utils.distributed.if_main_process():
        write_json_atomic(size, os.path.join(hparams["output_folder"], "model_size.json"))

    datasets = dataio_prepare(
        splits, frames, max_frames(hparams["max_duration"], hparams["ssl"]), lexical
    )
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
        brain.evaluate(
            datasets[split],
            max_key=hparams["checkpoint_key"],
            test_loader_kwargs=dict(hparams["test_dataloader_opts"]),
        )
    if sb.utils.distributed.if_main_process():
        table = write_results_table(hparams, list(tests), size)
        print(table.split("\n## ")[0])
    record_evaluation(
        hparams, brain, [*(f"test_{split}_results.json" for split in tests), "results.md"]
    )
    finish_experiment()


if __name__ == "__main__":
    main(sys.argv[1:])
