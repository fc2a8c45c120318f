#!/usr/bin/env python3
"""Training-epoch time of the IEMOCAP recipe with and without the frozen-feature cache.

For each model size, runs one epoch (train + valid) of ``recipes/IEMOCAP/train.py``'s
Brain on a generated IEMOCAP-format corpus, once reading the cached hidden states and once
running the frozen upstream at every step, and prints a Markdown table: epoch times, the
speed-up, and the one-off cost of filling the cache.

Usage:
    python benchmarks/feature_cache.py [--sizes tiny base] [--per-speaker 10] [--device cpu]
    python benchmarks/feature_cache.py --sizes base --case fill --work W --json fill.json

``--case`` runs some cases of one size (``fill``: fill an empty cache; ``cached``: one epoch
from the cache, filled first if needed; ``uncached``: one epoch running the upstream) and,
with ``--json``, writes their times and peak memory (``benchmarks/run_all.py`` runs each
case in its own process that way, reusing the corpus and the cache through ``--work``).
"""

import argparse
import os
import shutil
import sys
import tempfile
import time

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RECIPE = os.path.join(ROOT, "recipes", "IEMOCAP")
sys.path.insert(0, RECIPE)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import train  # noqa: E402  (the recipe's train.py)
from bench_utils import (  # noqa: E402
    MemoryProbe,
    add_case_options,
    log,
    set_threads,
    torch_info,
    write_json,
)

from ser_modules.testing.synthetic import generate_iemocap  # noqa: E402
from ser_modules.testing.tiny_ssl import save_random_ssl_model  # noqa: E402
from ser_modules.training.brain import brain_arguments, fit_brain  # noqa: E402
from ser_modules.utils.files import read_json  # noqa: E402

CASES = ("fill", "cached", "uncached")


def parse_args():
    """Benchmark options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--sizes", nargs="+", default=["tiny", "base"], choices=["tiny", "small", "base"]
    )
    parser.add_argument("--per-speaker", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    parser.add_argument("--work", default=None, help="work folder (default: a temporary one)")
    add_case_options(
        parser,
        CASES,
        "run these cases of one size, each with its own peak memory",
        "write the cases' results to this JSON file",
    )
    return parser.parse_args()


def load_hparams(work, corpus, ssl_folder, use_cache, device, batch_size):
    """The recipe's hparams and run options for one case, with a fresh experiment folder."""
    size = os.path.basename(ssl_folder)
    name = f"{size}_{'cache' if use_cache else 'nocache'}"
    experiment = os.path.join(work, "results", name)
    shutil.rmtree(experiment, ignore_errors=True)  # no checkpoint to resume from
    argv = [
        os.path.join(RECIPE, "hparams", "wavlm_corr_att.yaml"),
        f"--data_folder={corpus}",
        f"--ssl_hub={ssl_folder}",
        f"--results_folder={work}/results",
        f"--experiment_folder={experiment}",
        f"--ssl_folder={work}/hf_cache",
        f"--feature_cache_folder={work}/feature_cache/{size}",
        f"--use_feature_cache={use_cache}",
        "--number_of_epochs=1",
        f"--batch_size={batch_size}",
        "--noprogressbar",
        f"--device={device}",
    ]
    return train.load_experiment(argv, script=train.__file__)


def fill_cache(hparams, manifests, fresh):
    """Seconds to fill the feature cache (emptied first when ``fresh``)."""
    if fresh:
        shutil.rmtree(hparams["feature_cache_folder"], ignore_errors=True)
    start = time.perf_counter()
    cache = train.build_feature_cache(hparams, hparams["ssl"], manifests.values())
    return cache, time.perf_counter() - start


def run_epoch(hparams, run_opts, manifests, cache):
    """Seconds of one train + valid epoch, and the number of utterances it saw."""
    datasets = train.dataio_prepare(hparams, manifests, cache)
    brain = train.EmotionBrain(**brain_arguments(hparams, run_opts))
    start = time.perf_counter()
    fit_brain(brain, datasets)
    return time.perf_counter() - start, len(datasets["train"]) + len(datasets["valid"])


def run_case(case, work, corpus, ssl_folder, device, batch_size):
    """Runs one case; returns a dict of its times (seconds) and utterance counts."""
    use_cache = case != "uncached"
    hparams, run_opts = load_hparams(work, corpus, ssl_folder, use_cache, device, batch_size)
    manifests = train.prepare_manifests(
        hparams, train.prepare_iemocap, train.FOLD_OPTIONS, splits=train.SPLITS
    )
    train.save_label_encoder(hparams)
    result = {"case": case}
    cache = None
    if use_cache:
        cache, result["fill_s"] = fill_cache(hparams, manifests, fresh=case == "fill")
        result["cached_utterances"] = sum(len(read_json(p)) for p in manifests.values())
    if case != "fill":
        result["epoch_s"], result["epoch_utterances"] = run_epoch(
            hparams, run_opts, manifests, cache
        )
    return result


def prepare_inputs(work, per_speaker, size):
    """The generated corpus and the random WavLM of ``size`` (both reused when present)."""
    corpus = generate_iemocap(
        os.path.join(work, f"iemocap_ps{per_speaker}"), per_speaker=per_speaker
    )
    ssl_folder = save_random_ssl_model("wavlm", os.path.join(work, f"wavlm_{size}"), size=size)
    return str(corpus), str(ssl_folder)


def run_cases(args, work):
    """Runs the ``--case`` cases of one size, each with its own peak memory; writes the JSON.

    The corpus and the random model are made (or found) before the first case starts.
    """
    if len(args.sizes) != 1:
        raise SystemExit("--case needs exactly one --sizes value")
    size = args.sizes[0]
    corpus, ssl_folder = prepare_inputs(work, args.per_speaker, size)
    results = []
    for case in args.case:
        log(f"feature cache: {case}, WavLM {size}")
        probe = MemoryProbe(args.device)
        result = run_case(case, work, corpus, ssl_folder, args.device, args.batch_size)
        result.update(size=size, **probe.report())
        results.append(result)
        print(result)
    write_json(args.json, {"cases": results, **torch_info()})


def print_table(rows, device):
    """The Markdown table of the default (all sizes) run."""
    print(
        f"\ntorch {torch.__version__}, device {device}, {os.cpu_count()} CPUs, threads"
        f" {torch.get_num_threads()}"
    )
    print(
        "\n| WavLM size | utterances (train + valid) | epoch without cache (s) | epoch with cache"
        " (s) | speed-up | filling the cache, once (s) |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for size, n_utts, uncached, cached, speedup, fill in rows:
        print(
            f"| {size} | {n_utts} | {uncached:.1f} | {cached:.1f} | {speedup:.1f}x | {fill:.1f} |"
        )


def main():
    """Runs the benchmark for every size and prints the table (or one case, see --case)."""
    args = parse_args()
    set_threads(args.threads)
    work = args.work or tempfile.mkdtemp(prefix="cache_bench_")
    if args.case:
        run_cases(args, work)
        return
    rows = []
    for size in args.sizes:
        corpus, ssl_folder = prepare_inputs(work, args.per_speaker, size)
        fill = run_case("fill", work, corpus, ssl_folder, args.device, args.batch_size)["fill_s"]
        cached = run_case("cached", work, corpus, ssl_folder, args.device, args.batch_size)
        uncached = run_case("uncached", work, corpus, ssl_folder, args.device, args.batch_size)
        n_utts = cached["epoch_utterances"]
        rows.append(
            (
                size,
                n_utts,
                uncached["epoch_s"],
                cached["epoch_s"],
                uncached["epoch_s"] / cached["epoch_s"],
                fill,
            )
        )
    print_table(rows, args.device)


if __name__ == "__main__":
    main()
