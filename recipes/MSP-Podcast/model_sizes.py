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
import logging

from ser_modules.nn.multimodal import MultimodalTCGRU
from ser_modules.nn.selection import FeatureSelection
from ser_modules.nn.tc_gru import TCGRU, count_parameters

logger = logging.getLogger(__name__)

KEEP_FRACTIONS = (1.0, 0.8, 0.6, 0.4)
PAPER_REDUCTION = {1.0: "-", 0.8: "16%", 0.6: "32%", 0.4: "49%"}


def model_size(head, full_input_head, selection):
    """Size of a downstream head on the kept dimensions, beside the same head on all of them.

    Arguments
    ---------
    head : torch.nn.Module
        The head on the ``selection.output_size`` kept dimensions.
    full_input_head : torch.nn.Module
        The same head on all ``selection.input_size`` dimensions.
    selection : ser_modules.nn.selection.FeatureSelection
        The feature selection before the head.

    Returns
    -------
    dict
        ``input_size``, ``kept_dimensions``, ``head_parameters``, ``head_megabytes_fp32``,
        ``full_input_head_parameters``, ``relative_size_reduction_percent`` and
        ``selector_stored_values`` (what ``model_size.json`` of a run holds).

    Example
    -------
    >>> import torch
    >>> selection = FeatureSelection(4, "ccs", 0.5)
    >>> size = model_size(torch.nn.Linear(2, 1), torch.nn.Linear(4, 1), selection)
    >>> size["head_parameters"], size["full_input_head_parameters"], size["kept_dimensions"]
    (3, 5, 2)
    >>> size["relative_size_reduction_percent"]
    40.0
    """
    params, full = count_parameters(head), count_parameters(full_input_head)
    return {
        "input_size": selection.input_size,
        "kept_dimensions": selection.output_size,
        "head_parameters": params,
        "head_megabytes_fp32": params * 4 / 1e6,
        "full_input_head_parameters": full,
        "relative_size_reduction_percent": 100.0 * (1 - params / full),
        "selector_stored_values": sum(buffer.numel() for buffer in selection.buffers()),
    }


def log_model_size(size, method):
    """Logs a :func:`model_size` (``method``: the selection's)."""
    logger.info(
        "Downstream model: %d parameters (%.2f MB fp32) on %d of %d input dimensions (%s); "
        "%.1f%% smaller than on all dimensions (%d parameters)",
        *(size[key] for key in ("head_parameters", "head_megabytes_fp32", "kept_dimensions")),
        size["input_size"],
        method,
        size["relative_size_reduction_percent"],
        size["full_input_head_parameters"],
    )


def model_sizes(acoustic_size, lexical_sizes=(), keep_fractions=KEEP_FRACTIONS, **head_options):
    """:func:`model_size` of the head for each kept fraction (CCS selection).

    Arguments
    ---------
    acoustic_size : int
        Acoustic input dimensions before the selection (2048 for HuBERT_L + HuBERT_A).
    lexical_sizes : tuple of int
        Lexical embedding sizes (none: the audio-only TC-GRU).
    keep_fractions : tuple of float
        Fractions of the acoustic dimensions kept.
    **head_options
        Options of the TC-GRU (``conv_channels``, ``gru_size``, ...).

    Returns
    -------
    list of dict
        ``keep_fraction`` and the :func:`model_size` of each fraction.

    Example
    -------
    >>> rows = model_sizes(20, (4,), (1.0, 0.5), conv_channels=8, gru_size=4, embedding_size=2)
    >>> [(row["kept_dimensions"], row["head_parameters"]) for row in rows]
    [(20, 803), (10, 563)]
    """

    def head(input_size):
        if lexical_sizes:
            return MultimodalTCGRU(input_size, lexical_sizes=list(lexical_sizes), **head_options)
        return TCGRU(input_size, **head_options)

    full_input_head = head(acoustic_size)
    rows = []
    for keep in keep_fractions:
        selection = FeatureSelection(acoustic_size, "ccs", keep)
        size = model_size(head(selection.output_size), full_input_head, selection)
        rows.append({"keep_fraction": keep, **size})
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
        params = row["head_parameters"]
        reduction = "-" if row is rows[0] else f"{row['relative_size_reduction_percent']:.1f}%"
        lines.append(
            f"| {100 * row['keep_fraction']:.0f}% | {row['kept_dimensions']} | {params:,} |"
            f" {params * 4 / 1e6:.1f} | {params * 2 / 1e6:.1f} | {reduction} |"
            f" {PAPER_REDUCTION.get(row['keep_fraction'], '')} |"
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
