#!/usr/bin/env python3
"""Runs every benchmark and prints one Markdown table: benchmark | setting | figure | peak memory.

Benchmarks (each script also runs on its own, see its ``--help``):

* ``pooling.py``: forward + backward time of every pooling of ``ser_modules.nn.pooling``, a
  per-utterance Python loop and the bare matrix products;
* ``feature_cache.py``: one training epoch of the IEMOCAP recipe with and without the
  frozen-feature cache, and the one-off cost of filling it;
* ``data_prep.py``: corpus generation (espeak-ng), then the IEMOCAP and MSP-Podcast data
  preparation throughput (utterances/s) and its idempotent second call;
* ``inference.py``: real-time factor of the full IEMOCAP inference pipeline with a
  wavlm-base-sized random model.

Every case runs in its own subprocess, which reports its own peak RSS (``VmHWM``) and, on
CUDA, ``torch.cuda.max_memory_allocated`` (``--tiny`` groups the cases of a script into one
process to save start-up time; the high-water mark is reset between cases).

Profiles: the default one took 22 minutes on a loaded 2-core CPU, 6.6 of them generating the
corpora (about 15 minutes once the corpora of ``--work`` exist); ``--quick`` a few minutes;
``--tiny`` well under a minute (smoke test: tiny models and corpora, figures meaningless).

Usage::

    python benchmarks/run_all.py --out benchmarks/last_run.md          # what `make bench` runs
    python benchmarks/run_all.py --quick
    python benchmarks/run_all.py --tiny --work /tmp/bench
"""

import argparse
import datetime
import os
import shlex
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from bench_utils import format_memory, log, machine_info, run_child  # noqa: E402

POOLING_NAMES = {
    "mean": "MeanPooling",
    "mean_std": "MeanStdPooling",
    "corr": "CorrelationPooling",
    "corr_pd": "CorrelationPooling (p_d=0.25, train)",
    "corr_att": "AttentiveCorrelationPooling",
    "corr_att_per_head": "AttentiveCorrelationPooling (per_head)",
    "loop": "naive per-utterance loop correlation",
    "bmm": "bare bmm",
}

PROFILES = {
    "default": {
        "group": False,
        "pooling": {"args": [], "warmup": 3, "repeats": 10, "cases": list(POOLING_NAMES)},
        "cache": {"sizes": ["tiny", "base"], "per_speaker": 6},
        "prep": {"per_speaker": 740, "msp_size": 5000},
        "inference": {
            "size": "base",
            "warmup": 1,
            "cases": [("10x1", 3), ("10x8", 2), ("60x1", 2)],
        },
    },
    "quick": {
        "group": False,
        "pooling": {"args": [], "warmup": 1, "repeats": 3, "cases": list(POOLING_NAMES)},
        "cache": {"sizes": ["tiny"], "per_speaker": 2},
        "prep": {"per_speaker": 50, "msp_size": 300},
        "inference": {"size": "base", "warmup": 1, "cases": [("10x1", 1)]},
    },
    "tiny": {
        "group": True,
        "pooling": {
            "args": ["--batch", "4", "--frames", "50", "--channels", "32"],
            "warmup": 1,
            "repeats": 1,
            "cases": list(POOLING_NAMES),
        },
        "cache": {"sizes": ["tiny"], "per_speaker": 1},
        "prep": {"per_speaker": 1, "msp_size": 8},
        "inference": {"size": "tiny", "warmup": 0, "cases": [("1x1", 1), ("1x2", 1)]},
    },
}


def parse_args(argv=None):
    """Runner options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    profile = parser.add_mutually_exclusive_group()
    profile.add_argument("--quick", action="store_true", help="smaller sizes: a few minutes")
    profile.add_argument("--tiny", action="store_true", help="smallest sizes (smoke test), < 1 min")
    parser.add_argument(
        "--work",
        default=str(ROOT / "data" / "benchmarks"),
        help="work folder: corpora, random models, caches (reused; default data/benchmarks)",
    )
    parser.add_argument("--device", default="cpu", help="cpu (default) or cuda[:N]")
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch threads of every benchmark (default: torch's default)",
    )
    parser.add_argument(
        "--only",
        nargs="+",
        choices=["pooling", "cache", "prep", "inference"],
        help="run only these benchmarks",
    )
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per subprocess")
    parser.add_argument("--out", default=None, help="also write the report (Markdown) here")
    return parser.parse_args(argv)


class Runner:
    """Runs benchmark subprocesses with the common options and collects the table rows."""

    def __init__(self, args, profile):
        self.args = args
        self.profile = profile
        self.rows = []
        self.threads = set()
        self.torch_versions = set()
        self.json_dir = tempfile.mkdtemp(prefix="bench_json_")
        self.count = 0

    def child(self, script, extra, torch_options=True):
        """Runs ``benchmarks/<script> extra... --json F`` and returns its JSON result."""
        self.count += 1
        json_path = os.path.join(self.json_dir, f"{self.count}.json")
        cmd = [sys.executable, str(HERE / script), *extra, "--json", json_path]
        if torch_options:
            cmd += ["--device", self.args.device]
            if self.args.threads is not None:
                cmd += ["--threads", str(self.args.threads)]
        log(f"running {' '.join(shlex.quote(c) for c in cmd[1:])}")
        result = run_child(cmd, json_path, timeout=self.args.timeout)
        if "threads" in result:
            self.threads.add(result["threads"])
        if "torch" in result:
            self.torch_versions.add(result["torch"])
        return result

    def add(self, benchmark, setting, figure, memory):
        """Appends one table row."""
        self.rows.append((benchmark, setting, figure, memory))

    def add_error(self, benchmark, setting, result):
        """Appends the row of a failed case."""
        self.add(benchmark, setting, f"FAILED: {result['error']}", "n/a")


def case_memory(case, result, shared_by=1):
    """Memory text of a case: its own figures, else its process's."""
    figures = case if "peak_rss_mib" in case else result
    text = format_memory(figures)
    if shared_by > 1 and "peak_rss_mib" not in case:
        text += f", one process for {shared_by} cases"
    return text


# ------------------------------------------------------------------------------------------
# Pooling
# ------------------------------------------------------------------------------------------
def run_pooling(runner):
    """Pooling throughput, one process per pooling (one for all with --tiny)."""
    cfg = runner.profile["pooling"]
    base = [*cfg["args"], "--warmup", str(cfg["warmup"]), "--repeats", str(cfg["repeats"])]
    groups = [cfg["cases"]] if runner.profile["group"] else [[key] for key in cfg["cases"]]
    for keys in groups:
        result = runner.child("pooling.py", [*base, "--only", *keys])
        if "error" in result:
            for key in keys:
                runner.add_error("pooling fwd+bwd", POOLING_NAMES[key], result)
            continue
        add_pooling_rows(runner, result, cfg)


def add_pooling_rows(runner, result, cfg):
    """Table rows of one pooling.py result."""
    sizes = result["sizes"]
    shape = f"B={sizes['batch']} T={sizes['frames']} C={sizes['channels']}"
    for case in result["cases"]:
        figure = (
            f"{case['median_ms']:.1f} ms (median of {cfg['repeats']}; min {case['min_ms']:.1f})"
        )
        runner.add(
            "pooling fwd+bwd",
            f"{case['name']}, {shape}",
            figure,
            case_memory(case, result, len(result["cases"])),
        )


# ------------------------------------------------------------------------------------------
# Feature cache
# ------------------------------------------------------------------------------------------
CACHE_CASES = ("fill", "cached", "uncached")


def run_cache(runner):
    """Epoch time with and without the feature cache, for each WavLM size."""
    cfg = runner.profile["cache"]
    for size in cfg["sizes"]:
        base = [
            "--sizes",
            size,
            "--per-speaker",
            str(cfg["per_speaker"]),
            "--work",
            runner.args.work,
        ]
        groups = [CACHE_CASES] if runner.profile["group"] else [[case] for case in CACHE_CASES]
        cases = {}
        for group in groups:
            result = runner.child("feature_cache.py", [*base, "--case", *group])
            for case in group:
                found = [c for c in result.get("cases", []) if c["case"] == case]
                cases[case] = (
                    {**found[0], "process": result} if found else {"error": result.get("error")}
                )
        add_cache_rows(runner, size, cfg, cases)


def add_cache_rows(runner, size, cfg, cases):
    """Table rows of the three feature-cache cases of one size."""
    label = f"WavLM {size}, corpus --per-speaker {cfg['per_speaker']}"
    fill, cached, uncached = (cases[c] for c in CACHE_CASES)
    bench = "IEMOCAP training epoch"
    if "error" in fill:
        runner.add_error(bench, f"{label}: filling the cache", fill)
    else:
        runner.add(
            bench,
            f"{label}: filling the cache (once, {fill['cached_utterances']} utterances)",
            f"{fill['fill_s']:.1f} s",
            case_memory(fill, fill["process"]),
        )
    for name, case in (
        ("with the feature cache", cached),
        ("without cache (upstream every step)", uncached),
    ):
        if "error" in case:
            runner.add_error(bench, f"{label}: epoch {name}", case)
            continue
        figure = f"{case['epoch_s']:.1f} s"
        if case is uncached and "epoch_s" in cached:
            figure += f" ({case['epoch_s'] / cached['epoch_s']:.1f}x the cached epoch)"
        runner.add(
            bench,
            f"{label}: epoch {name}, {case['epoch_utterances']} train+valid utterances",
            figure,
            case_memory(case, case["process"]),
        )


# ------------------------------------------------------------------------------------------
# Data preparation
# ------------------------------------------------------------------------------------------
def run_prep(runner):
    """Corpus generation, then the IEMOCAP and MSP-Podcast preparation throughput."""
    cfg = runner.profile["prep"]
    base = [
        "--per-speaker",
        str(cfg["per_speaker"]),
        "--msp-size",
        str(cfg["msp_size"]),
        "--work",
        runner.args.work,
    ]
    steps = ["generate", "iemocap", "msp"]
    groups = [steps] if runner.profile["group"] else [[step] for step in steps]
    for group in groups:
        result = runner.child("data_prep.py", [*base, "--case", *group], torch_options=False)
        for step in group:
            found = [c for c in result.get("cases", []) if c["case"] == step]
            if not found:
                runner.add_error("data preparation", step, result)
            elif step == "generate":
                add_generation_rows(runner, found[0])
            else:
                add_prep_rows(runner, step, found[0])


def add_generation_rows(runner, case):
    """Rows of the corpus generation (espeak-ng)."""
    names = {"iemocap": "IEMOCAP-format", "msp": "MSP-Podcast-format"}
    for corpus, name in names.items():
        gen = case.get(corpus)
        if gen is None:
            continue
        n = gen["stats"].get("utterances", gen["stats"].get("segments"))
        setting = f"{name} corpus, {n} utterances, espeak-ng, {case['workers']} workers"
        if gen["reused"]:
            figure = "reused from --work (generated by an earlier run)"
        else:
            figure = f"{gen['seconds']:.0f} s ({n / gen['seconds']:.0f} utt/s)"
        runner.add("corpus generation", setting, figure, case_memory(case, case))


def add_prep_rows(runner, step, case):
    """Rows of one preparation (fresh, then the second call)."""
    if step == "iemocap":
        setting = (
            f"prepare_iemocap, fold 1: {case['utterances']} utterances kept (4 classes) "
            f"of {case['turns']} turns, empty save folder"
        )
        second = "prepare_iemocap, second call (manifests up to date)"
    else:
        setting = (
            f"prepare_msp_podcast: {case['utterances']} labelled segments "
            f"({', '.join(case['manifests'])}), empty save folder"
        )
        second = "prepare_msp_podcast, second call (manifests up to date)"
    figure = f"{case['utt_per_s']:.0f} utt/s ({case['seconds']:.2f} s)"
    runner.add("data preparation", setting, figure, case_memory(case, case))
    runner.add(
        "data preparation", second, f"{1e3 * case['second_call_s']:.1f} ms", "same process as above"
    )


# ------------------------------------------------------------------------------------------
# Inference
# ------------------------------------------------------------------------------------------
def run_inference(runner):
    """Real-time factor of the inference pipeline, one process per input size."""
    cfg = runner.profile["inference"]
    base = ["--size", cfg["size"], "--warmup", str(cfg["warmup"]), "--work", runner.args.work]
    if runner.profile["group"]:
        repeats = max(r for _, r in cfg["cases"])
        groups = [([c for c, _ in cfg["cases"]], repeats)]
    else:
        groups = [([c], r) for c, r in cfg["cases"]]
    for specs, repeats in groups:
        result = runner.child("inference.py", [*base, "--repeats", str(repeats), "--cases", *specs])
        if "error" in result:
            for spec in specs:
                runner.add_error("inference RTF", f"WavLM {cfg['size']}, {spec}", result)
            continue
        for case in result["cases"]:
            setting = (
                f"WavLM {cfg['size']} + corr_att head ({result['parameters'] / 1e6:.1f} M "
                f"parameters), {case['seconds']:g} s x batch {case['batch']}"
            )
            figure = (
                f"RTF {case['rtf']:.3f} ({case['median_s']:.2f} s per batch, median of "
                f"{repeats} after {cfg['warmup']} warm-up)"
            )
            runner.add("inference RTF", setting, figure, case_memory(case, result))


# ------------------------------------------------------------------------------------------
# Report
# ------------------------------------------------------------------------------------------
def machine_lines(info, runner, start_load):
    """Description of the machine and of the run."""
    torch_version = ", ".join(sorted(runner.torch_versions)) or info["torch"]
    lines = [
        f"- CPU: {info['cpu']}, {info['cores']} cores (os.cpu_count), {info['memory_gib']} GiB RAM",
        f"- torch {torch_version}, Python {info['python']}, device {info['device']}"
        + (f" ({info['gpu']})" if "gpu" in info else ""),
        (
            f"- torch threads: {', '.join(map(str, sorted(runner.threads))) or 'n/a'}"
            f" (OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')})"
        ),
    ]
    if "load_average" in info:
        lines.append(
            f"- load average (1, 5, 15 min): {start_load} at the start, "
            f"{info['load_average']} at the end"
        )
    return lines


def render(runner, profile_name, info, start_load, elapsed):
    """The whole report: header, machine, table, memory note."""
    lines = [
        (
            f"Benchmarks ({profile_name} profile), {datetime.date.today().isoformat()}, "
            f"{elapsed / 60:.1f} min in all"
        ),
        "",
        f"Command: `{' '.join(shlex.quote(a) for a in [Path(sys.executable).name, *sys.argv])}`",
        "",
        *machine_lines(info, runner, start_load),
        "",
        "| benchmark | setting | figure | peak memory |",
        "| --- | --- | --- | --- |",
        *(f"| {' | '.join(row)} |" for row in runner.rows),
        "",
        (
            "Peak memory: peak RSS of the case (VmHWM of its process, reset when the case starts); "
            "in brackets the RSS when the case started (Python, imports); CUDA: "
            "torch.cuda.max_memory_allocated."
        ),
    ]
    return "\n".join(lines) + "\n"


def main(argv=None):
    """Runs the benchmarks of the profile and prints (and writes) the report."""
    args = parse_args(argv)
    profile_name = "tiny" if args.tiny else "quick" if args.quick else "default"
    runner = Runner(args, PROFILES[profile_name])
    os.makedirs(args.work, exist_ok=True)
    start_load = [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None
    start = time.perf_counter()
    benchmarks = {
        "pooling": run_pooling,
        "prep": run_prep,
        "cache": run_cache,
        "inference": run_inference,
    }
    for name, run in benchmarks.items():
        if not args.only or name in args.only:
            log(f"--- {name} ---")
            run(runner)
    report = render(
        runner, profile_name, machine_info(args.device), start_load, time.perf_counter() - start
    )
    print(report, end="")
    if args.out:
        Path(args.out).write_text(report, encoding="utf-8")
    return 1 if any(row[2].startswith("FAILED") for row in runner.rows) else 0


if __name__ == "__main__":
    sys.exit(main())
