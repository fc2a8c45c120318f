#!/usr/bin/env python3
"""The MSP-Podcast demo: the dimensional SER recipe end to end on CPU, in minutes, no download.

1. generates an MSP-Podcast-format corpus (release 1.11 layout, 500 labelled segments by
   default) with speech synthesised by espeak-ng and arousal / valence / dominance rendered in
   prosody, rated by simulated raters (so each segment has a rater mean and spread);
2. builds a tiny randomly initialised HuBERT (hidden size 32, 2 layers) as a local Hugging Face
   folder;
3. runs ``recipes/MSP-Podcast/train.py hparams/hubert_tcgru.yaml`` with it: hidden state 2,
   CCS saliency keeping 80% of the dimensions, the variance-aware ``kl_gauss`` loss, a TC-GRU
   head scaled down for CPU, evaluation on test1, test2 and noisy + reverberant copies of test1
   at 20-30, 10-20 and 0-10 dB SNR (generated noises and simulated rooms);
4. prints the results table (also in ``demo_output/msp/results/<experiment>/seed1986/results.md``).

Every step is skipped when its output exists, so a second run only prints the table
(``--force`` re-runs the training script, which resumes from its checkpoints).

Usage: python scripts/demo_msp.py [--out demo_output/msp] [--size 500] [--epochs 20] [--force]
"""

import argparse
import os
import subprocess
import sys
import time
from functools import partial

from demo_steps import generate_inputs, recipe_command

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RECIPE = os.path.join(ROOT, "recipes", "MSP-Podcast")


def parse_args(argv):
    """Demo options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=os.path.join(ROOT, "demo_output", "msp"))
    parser.add_argument("--size", type=int, default=500, help="labelled segments of the corpus")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument(
        "--force", action="store_true", help="run train.py even if results.md exists"
    )
    return parser.parse_args(argv)


def main(argv):
    """Runs the demo steps and prints the table and the elapsed time."""
    from ser_modules.testing.synthetic import generate_msp_podcast

    args = parse_args(argv)
    out = os.path.abspath(args.out)
    # Everything the recipe writes is under results_folder; the experiment folder is named as
    # in the hparams file: <upstream_tag>/
    # layer<ssl_layer>_tcgru_<saliency>_keep<keep_fraction>_<loss_mode>/seed<seed>.
    results_folder = os.path.join(out, "results")
    experiment = os.path.join(
        results_folder, "tiny_hubert", "layer2_tcgru_ccs_keep0.8_kl_gauss", "seed1986"
    )
    start = time.time()
    corpus, ssl_folder = generate_inputs(
        "demo-msp",
        out,
        "MSP-Podcast",
        partial(generate_msp_podcast, release="1.11", size=args.size),
        "hubert",
        "HuBERT",
    )
    results = os.path.join(experiment, "results.md")
    if args.force or not os.path.exists(results):
        print(
            f"[demo-msp] 3/3 training and evaluating (CCS 80%, kl_gauss, {args.epochs} epochs at"
            " most)",
            flush=True,
        )
        options = [
            "--ssl_layer=2",
            f"--results_folder={results_folder}",
            "--saliency=ccs",
            "--keep_fraction=0.8",
            "--loss_mode=kl_gauss",
            f"--number_of_epochs={args.epochs}",
            "--patience=8",
            # A TC-GRU scaled down for a CPU and 32-dimensional features.
            "--conv_channels=64",
            "--gru_size=64",
            "--embedding_size=32",
            "--conv_stride=4",
            "--lr=0.002",
        ]
        command = recipe_command(
            RECIPE, "train.py", "hubert_tcgru.yaml", corpus, ssl_folder, options
        )
        # The small GRU runs fastest single-threaded (and does not compete for the cores).
        env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": ROOT}
        subprocess.run(command, check=True, cwd=out, env=env, stdout=subprocess.DEVNULL)
    else:
        print(f"[demo-msp] 3/3 already done: {results}", flush=True)
    with open(results, encoding="utf-8") as handle:
        print(handle.read())
    print(f"[demo-msp] done in {time.time() - start:.0f} s")


if __name__ == "__main__":
    main(sys.argv[1:])
