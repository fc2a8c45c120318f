#!/usr/bin/env python3
"""Forward+backward throughput of the poolings of ``ser_modules.nn.pooling``.

Prints a Markdown table (median time of several runs after warm-up) for

* every pooling of ``ser_modules.nn.pooling`` (forward + backward);
* a naive correlation pooling: a Python loop over the batch that slices the
  valid frames of each utterance and uses torch ops per utterance;
* the bare batched matrix products correlation pooling needs: ``bmm`` of
  ``[B, C, T] x [B, T, C]`` forward + backward.

Default sizes: batch 32, T = 500 frames (10 s at 50 Hz), 256 channels.

Usage::

    python benchmarks/pooling.py                 # CPU
    python benchmarks/pooling.py --device cuda   # GPU
    python benchmarks/pooling.py --threads 2 --repeats 20 --min-length 0.5
    python benchmarks/pooling.py --only corr loop --json out.json   # some cases, JSON too

With ``--json`` the times and the peak memory of the process (see ``bench_utils``) are also
written to a file; ``benchmarks/run_all.py`` runs each case in its own process that way.

This is a script, not a test (it is not collected by pytest).
"""

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_utils import MemoryProbe, torch_info, write_json  # noqa: E402

from ser_modules.nn.pooling import (  # noqa: E402
    AttentiveCorrelationPooling,
    CorrelationPooling,
    MeanPooling,
    MeanStdPooling,
)


class NaiveLoopCorrelation(torch.nn.Module):
    """Correlation pooling with a Python loop over the batch (reference)."""

    def __init__(self, channels, eps=1e-6):
        super().__init__()
        self.eps = eps
        rows, cols = torch.triu_indices(channels, channels, offset=1)
        self.register_buffer("rows", rows, persistent=False)
        self.register_buffer("cols", cols, persistent=False)

    def forward(self, x, lengths):
        counts = torch.round(lengths * x.shape[1]).long().clamp(1, x.shape[1]).tolist()
        outs = []
        for i, n in enumerate(counts):
            xi = x[i, :n]
            xc = xi - xi.mean(0, keepdim=True)
            cov = xc.t() @ xc / n
            std = torch.sqrt(torch.diagonal(cov) + self.eps)
            corr = cov / (std[:, None] * std[None, :])
            outs.append(corr[self.rows, self.cols])
        return torch.stack(outs)


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_cases(cases, device, warmup, repeats):
    """Median (and min) time of each case; the cases are run round-robin.

    Interleaving the cases spreads a varying background load (other jobs
    on a shared machine) evenly over them.
    """
    for fn in cases.values():
        for _ in range(warmup):
            fn()
    sync(device)
    times = {name: [] for name in cases}
    for _ in range(repeats):
        for name, fn in cases.items():
            start = time.perf_counter()
            fn()
            sync(device)
            times[name].append(time.perf_counter() - start)
    return {name: (statistics.median(t), min(t)) for name, t in times.items()}


CASE_KEYS = ("mean", "mean_std", "corr", "corr_pd", "corr_att", "corr_att_per_head", "loop", "bmm")


def machine_description(device):
    cpu = platform.processor() or "unknown CPU"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    desc = f"{cpu}, nproc={os.cpu_count()}, torch threads={torch.get_num_threads()}"
    if device.type == "cuda":
        desc += f", GPU {torch.cuda.get_device_name(device)}"
    return desc + f", torch {torch.__version__}"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cpu", help="cpu (default) or cuda[:N]")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--frames", type=int, default=500, help="T (10 s at 50 Hz = 500)")
    parser.add_argument("--channels", type=int, default=256)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    parser.add_argument(
        "--min-length",
        type=float,
        default=1.0,
        help="relative lengths drawn uniformly in [min-length, 1] (1.0: no padding)",
    )
    parser.add_argument("--only", nargs="+", choices=CASE_KEYS, help="run only these cases")
    parser.add_argument("--json", default=None, help="also write the results to this JSON file")
    args = parser.parse_args()

    if args.threads is not None:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    probe = MemoryProbe(device)
    torch.manual_seed(0)
    B, T, C = args.batch, args.frames, args.channels

    x = torch.randn(B, T, C, device=device, requires_grad=True)
    lengths = args.min_length + (1.0 - args.min_length) * torch.rand(B, device=device)
    lengths[0] = 1.0

    def run_module(module):
        module = module.to(device).train()

        def fn():
            x.grad = None
            module.zero_grad(set_to_none=True)
            out = module(x, lengths)
            out.sum().backward()

        return fn

    keys = set(args.only or CASE_KEYS)
    poolings = [
        ("mean", "MeanPooling", lambda: MeanPooling(C)),
        ("mean_std", "MeanStdPooling", lambda: MeanStdPooling(C)),
        ("corr", "CorrelationPooling", lambda: CorrelationPooling(C)),
        (
            "corr_pd",
            "CorrelationPooling (p_d=0.25, train)",
            lambda: CorrelationPooling(C, channel_dropout=0.25),
        ),
        (
            "corr_att",
            "AttentiveCorrelationPooling",
            lambda: AttentiveCorrelationPooling(C, num_heads=args.heads),
        ),
        (
            "corr_att_per_head",
            "AttentiveCorrelationPooling (per_head)",
            lambda: AttentiveCorrelationPooling(C, num_heads=args.heads, per_head=True),
        ),
        ("loop", "naive per-utterance loop correlation", lambda: NaiveLoopCorrelation(C)),
    ]
    poolings = [(key, name, make()) for key, name, make in poolings if key in keys]
    cases = {name: run_module(module) for _, name, module in poolings}
    sizes = {name: getattr(module, "output_size", C * (C - 1) // 2) for _, name, module in poolings}
    name_loop = "naive per-utterance loop correlation"

    a = torch.randn(B, C, T, device=device, requires_grad=True)
    b = torch.randn(B, T, C, device=device, requires_grad=True)

    def bare_bmm():
        a.grad = b.grad = None
        torch.bmm(a, b).sum().backward()

    name_bmm = f"bare bmm [{B},{C},{T}]x[{B},{T},{C}]"
    if "bmm" in keys:
        cases[name_bmm] = bare_bmm
        sizes[name_bmm] = C * C

    times = time_cases(cases, device, args.warmup, args.repeats)
    write_json(
        args.json,
        {
            "sizes": {"batch": B, "frames": T, "channels": C, "heads": args.heads},
            **torch_info(),
            "cases": [
                {
                    "name": name,
                    "median_ms": 1e3 * med,
                    "min_ms": 1e3 * low,
                    "output_size": sizes[name],
                }
                for name, (med, low) in times.items()
            ],
            **probe.report(),  # of all the cases of this process together
        },
    )

    print(f"Machine: {machine_description(device)}")
    print(
        f"Sizes: batch {B}, T={T}, C={C}, heads {args.heads}, lengths in "
        f"[{args.min_length}, 1]; median/min of {args.repeats} interleaved runs "
        f"after {args.warmup} warm-up"
    )
    print()
    ref = times.get("CorrelationPooling", (None,))[0]
    print("| forward+backward | output size | median (ms) | min (ms) | vs CorrelationPooling |")
    print("|---|---:|---:|---:|---:|")
    for name, (median, fastest) in times.items():
        ratio = f"{median / ref:.2f}x" if ref else "n/a"
        print(f"| {name} | {sizes[name]} | {1e3 * median:.1f} | {1e3 * fastest:.1f} | {ratio} |")
    if ref and name_loop in times and name_bmm in times:
        print()
        print(
            f"CorrelationPooling: {times[name_loop][0] / ref:.1f}x faster than the loop; "
            f"{ref / times[name_bmm][0]:.2f}x the time of its bare bmm (medians)"
        )


if __name__ == "__main__":
    main()
