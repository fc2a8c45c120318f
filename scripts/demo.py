#!/usr/bin/env python3
"""The demo (``make demo``): the IEMOCAP recipe end to end on CPU, in minutes, with no download.

1. generates a small corpus in the exact on-disk format of IEMOCAP_full_release, with speech
   synthesised by espeak-ng and emotions rendered in prosody;
2. builds a small randomly initialised WavLM (``tiny_ssl`` size ``small``) saved as a local
   Hugging Face folder;
3. runs the 5-fold leave-one-session-out cross-validation of
   ``recipes/IEMOCAP/hparams/wavlm_corr_att.yaml`` (attentive correlation pooling) with it;
4. prints the results table (also in ``demo_output/results/.../results.md``).

Every step is skipped when its output exists, so a second run only prints the table.

Usage: python scripts/demo.py [--out demo_output] [--epochs 20] [--per-speaker 40]
    [--folds 1,2,3,4,5]
"""

import argparse
import os
import subprocess
import sys
import time
from functools import partial

from demo_steps import generate_inputs, recipe_command

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RECIPE = os.path.join(ROOT, "recipes", "IEMOCAP")


def parse_args(argv):
    """Demo options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=os.path.join(ROOT, "demo_output"))
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--per-speaker", type=int, default=40)
    parser.add_argument("--folds", default="1,2,3,4,5")
    return parser.parse_args(argv)


def main(argv):
    """Runs the demo steps and prints the elapsed time of each."""
    from ser_modules.testing.synthetic import generate_iemocap

    args = parse_args(argv)
    out = os.path.abspath(args.out)
    start = time.time()
    corpus, ssl_folder = generate_inputs(
        "demo",
        out,
        "IEMOCAP",
        partial(generate_iemocap, per_speaker=args.per_speaker),
        "wavlm",
        "WavLM",
        size="small",
    )
    print(
        f"[demo] 3/3 5-fold cross-validation (attentive correlation pooling, {args.epochs} epochs"
        " per fold)",
        flush=True,
    )
    options = [
        f"--folds={args.folds}",
        f"--results_folder={out}/results",  # the experiment, feature cache and downloads
        f"--number_of_epochs={args.epochs}",
        "--batch_size=16",
        "--projector_dim=64",
        "--channel_dropout=0.25",
        "--lr=0.001",
    ]
    command = recipe_command(
        RECIPE, "cross_validate.py", "wavlm_corr_att.yaml", corpus, ssl_folder, options
    )
    subprocess.run(command, check=True, cwd=out)
    print(f"[demo] done in {time.time() - start:.0f} s")


if __name__ == "__main__":
    main(sys.argv[1:])
