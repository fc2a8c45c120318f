#!/usr/bin/env python3
"""Downstream model sizes of Mitra et al. (ICASSP 2024, Table 2), computed from the real dimensions.

Builds the heads of ``hparams/mitra_multimodal.yaml`` (HuBERT_L + HuBERT_A frames, 2 x 1024
acoustic dimensions, reduced by the saliency selection; 2 x 768 BERT dimensions joined before
the embedding layer) and of ``hparams/hubert_tcgru.yaml`` (audio only, 1024 dimensions) on the
CPU, with random weights (no download), and counts their parameters for each kept fraction:
size in MB (10^6 bytes) in float32 and float16, and the relative reduction of the full-input
model, as the "% Rel. model size" column of Table 2 (the paper: 15.6 MB, 16 / 32 / 49 %).

To run:
> python model_sizes.py [--conv_channels 1024] [--keep_fractions 1.0 0.8 0.6 0.4]

Authors
 * ser-recipes contributors 2026
"""

import argparse

from ser_modules.nn.multimodal import MultimodalTCGRU
from ser_modules.nn.selection import kept_size
from ser_modules.nn.tc_gru import TCGRU, count_parameters

KEEP_FRACTIONS = (1.0, 0.8, 0.6, 0.4)
PAPER_REDUCTION = {1.0: "-", 0.8: "16%", 0.6: "32%", 0.4: "49%"}


def model_sizes(acoustic_size, lexical_sizes=(), keep_fractions=KEEP_FRACTIONS, **head_options):
    """One row per kept fraction: kept dimensions, parameters, MB (fp32, fp16), reduction (%).

    Arguments
    ---------
    acoustic_size : int
        Acoustic input dimensions before the selection (2048 for HuBERT_L + HuBERT_A).
    lexical_sizes : tuple of int
        Lexical embedding sizes (none: the audio-only TC-GRU).
    keep_fractions : tuple of float
        Fractions of the acoustic dimensions kept (the first one is the reference).
    **head_options
        Options of the TC-GRU (``conv_channels``, ``gru_size``, ...).

    Returns
    -------
    list of dict

    Example
    -------
    >>> rows = model_sizes(20, (4,), (1.0, 0.5), conv_channels=8, gru_size=4, embedding_size=2)
    >>> [(row["kept"], row["parameters"]) for row in rows]
    [(20, 803), (10, 563)]
    """
    rows = []
    for keep in keep_fractions:
        kept = kept_size(acoustic_size, keep)
        if lexical_sizes:
            head = MultimodalTCGRU(kept, lexical_sizes=list(lexical_sizes), **head_options)
        else:
            head = TCGRU(kept, **head_options)
        params = count_parameters(head)
        rows.append(
            {
                "keep": keep,
                "kept": kept,
                "parameters": params,
                "mb_fp32": params * 4 / 1e6,
                "mb_fp16": params * 2 / 1e6,
            }
        )
    for row in rows:
        row["reduction_percent"] = 100.0 * (1 - row["parameters"] / rows[0]["parameters"])
    return rows


def markdown_table(rows):
    """The rows as a markdown table, with the paper's reductions beside ours."""
    lines = [
        (
            "| % input reps. | acoustic dims | parameters | MB (fp32) | MB (fp16) | ↓ % rel. model"
            " size | paper |"
        ),
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in rows:
        reduction = "-" if row is rows[0] else f"{row['reduction_percent']:.1f}%"
        lines.append(
            f"| {100 * row['keep']:.0f}% | {row['kept']} | {row['parameters']:,} |"
            f" {row['mb_fp32']:.1f} | {row['mb_fp16']:.1f} | {reduction} |"
            f" {PAPER_REDUCTION.get(row['keep'], '')} |"
        )
    return "\n".join(lines)


def main(argv=None):
    """Prints the tables of the multimodal and the audio-only model."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--conv_channels", type=int, default=1024)
    parser.add_argument("--gru_size", type=int, default=256)
    parser.add_argument("--embedding_size", type=int, default=128)
    parser.add_argument("--keep_fractions", type=float, nargs="+", default=list(KEEP_FRACTIONS))
    args = parser.parse_args(argv)
    options = {
        "conv_channels": args.conv_channels,
        "gru_size": args.gru_size,
        "embedding_size": args.embedding_size,
    }
    keep = tuple(args.keep_fractions)
    print(
        "Multimodal (hparams/mitra_multimodal.yaml): 2 x 1024 acoustic + 2 x 768 lexical"
        " dimensions\n"
    )
    print(markdown_table(model_sizes(2048, (768, 768), keep, **options)))
    print("\nAudio only (hparams/hubert_tcgru.yaml): 1024 acoustic dimensions\n")
    print(markdown_table(model_sizes(1024, (), keep, **options)))


if __name__ == "__main__":
    main()
