#!/usr/bin/env python3
"""Data-preparation throughput (utterances/s) of the IEMOCAP and MSP-Podcast recipes.

Generates IEMOCAP- and MSP-Podcast-format corpora with ``ser_modules.testing.synthetic`` (espeak-ng;
once: reused from the ``--work`` folder on later runs), then times

* ``recipes/IEMOCAP/iemocap_prepare.prepare_iemocap`` (fold 1) into an empty save folder,
  then its second, idempotent call (manifests up to date);
* ``recipes/MSP-Podcast/msp_podcast_prepare.prepare_msp_podcast`` the same way.

Throughput = utterances written to the manifests / seconds. IEMOCAP's 4-class protocol keeps
about 68% of the generated turns (``fru sur fea oth xxx`` are excluded), so the default
``--per-speaker 740`` (7400 turns) gives a little over 5000 prepared utterances. Generation
time is reported on its own.

Usage::

    python benchmarks/data_prep.py --work data/benchmarks              # default sizes
    python benchmarks/data_prep.py --per-speaker 2 --msp-size 20       # tiny smoke run
    python benchmarks/data_prep.py --work W --case iemocap --json r.json

``--case`` (``generate``, ``iemocap``, ``msp``) runs only these steps and, with ``--json``,
writes their figures and peak memory (``benchmarks/run_all.py`` runs each step in its own
process). The ``iemocap`` and ``msp`` steps need the corpora of an earlier ``generate``.
"""

import argparse
import json
import logging
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "recipes" / "IEMOCAP"))
sys.path.insert(0, str(ROOT / "recipes" / "MSP-Podcast"))

from bench_utils import MemoryProbe, add_case_options, log, write_json  # noqa: E402

from ser_modules.testing.synthetic import (  # noqa: E402
    IEMOCAP_MARKER,
    MSP_MARKER,
    generate_iemocap,
    generate_msp_podcast,
)

CASES = ("generate", "iemocap", "msp")


def parse_args(argv=None):
    """Benchmark options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--work", default=None, help="work folder, reused (default: temporary)")
    parser.add_argument(
        "--per-speaker",
        type=int,
        default=740,
        help="IEMOCAP turns per speaker (10 speakers; default 740: 7400 turns)",
    )
    parser.add_argument(
        "--msp-size",
        type=int,
        default=5000,
        help="MSP-Podcast labelled segments (0: skip MSP-Podcast)",
    )
    parser.add_argument(
        "--workers", type=int, default=None, help="espeak-ng processes (default: all cores)"
    )
    add_case_options(
        parser, CASES, "run only these steps (in this order)", "write the figures to this JSON file"
    )
    return parser.parse_args(argv)


def corpus_dirs(work, args):
    """Folders the two corpora are generated in (one per size, so sizes do not overwrite)."""
    return Path(work) / f"iemocap_ps{args.per_speaker}", Path(work) / f"msp_podcast_{args.msp_size}"


def marker_stats(marker):
    """The ``stats`` a generated corpus records in its marker file."""
    return json.loads(Path(marker).read_text(encoding="utf-8"))["stats"]


def timed_generation(generate, out_dir, marker, **kwargs):
    """Generates one corpus (reused when up to date); seconds, whether reused, its stats."""
    marker = Path(out_dir) / marker
    before = marker.stat().st_mtime_ns if marker.exists() else None
    start = time.perf_counter()
    generate(out_dir, progress=False, **kwargs)
    seconds = time.perf_counter() - start
    reused = before is not None and marker.stat().st_mtime_ns == before
    return {"seconds": seconds, "reused": reused, "stats": marker_stats(marker)}


def generate(args, work):
    """Generates (or reuses) both corpora; returns their generation figures."""
    iemocap_dir, msp_dir = corpus_dirs(work, args)
    result = {"workers": args.workers or os.cpu_count()}
    log(f"generating IEMOCAP ({10 * args.per_speaker} turns) in {iemocap_dir}")
    result["iemocap"] = timed_generation(
        generate_iemocap,
        iemocap_dir,
        IEMOCAP_MARKER,
        per_speaker=args.per_speaker,
        workers=args.workers,
    )
    if args.msp_size:
        log(f"generating MSP-Podcast ({args.msp_size} segments) in {msp_dir}")
        result["msp"] = timed_generation(
            generate_msp_podcast, msp_dir, MSP_MARKER, size=args.msp_size, workers=args.workers
        )
    return result


def count_manifest_entries(paths):
    """Total number of utterances in the manifests."""
    return sum(len(json.loads(Path(p).read_text(encoding="utf-8"))) for p in paths)


def timed_prepare(prepare, save_folder):
    """Times ``prepare(save_folder)`` into an empty folder, then again (up to date)."""
    shutil.rmtree(save_folder, ignore_errors=True)
    start = time.perf_counter()
    paths = prepare(save_folder)
    fresh = time.perf_counter() - start
    start = time.perf_counter()
    prepare(save_folder)
    second = time.perf_counter() - start
    utterances = count_manifest_entries(paths.values())
    return {
        "seconds": fresh,
        "second_call_s": second,
        "utterances": utterances,
        "utt_per_s": utterances / fresh,
        "manifests": sorted(paths),
    }


def prepare_iemocap_case(args, work):
    """Times the IEMOCAP preparation (fold 1) on the generated corpus."""
    from iemocap_prepare import prepare_iemocap

    corpus = corpus_dirs(work, args)[0] / "IEMOCAP_full_release"
    log(f"timing prepare_iemocap on {corpus}")
    result = timed_prepare(lambda out: prepare_iemocap(corpus, out, 1), Path(work) / "prep_iemocap")
    result["turns"] = marker_stats(corpus.parent / IEMOCAP_MARKER)["utterances"]
    return result


def prepare_msp_case(args, work):
    """Times the MSP-Podcast preparation (every labelled partition) on the generated corpus."""
    from msp_podcast_prepare import prepare_msp_podcast

    corpus = corpus_dirs(work, args)[1] / "MSP-Podcast"
    log(f"timing prepare_msp_podcast on {corpus}")
    result = timed_prepare(lambda out: prepare_msp_podcast(corpus, out), Path(work) / "prep_msp")
    stats = marker_stats(corpus.parent / MSP_MARKER)
    result["turns"] = stats["segments"] + stats.get("unlabelled", 0)
    return result


def run_case(case, args, work):
    """Runs one step (see CASES) and returns its figures."""
    if case == "generate":
        return generate(args, work)
    if case == "iemocap":
        return prepare_iemocap_case(args, work)
    return prepare_msp_case(args, work)


def print_table(results):
    """Markdown table of the figures of a full (all-steps) run."""
    print("| step | utterances | seconds | utterances/s | second call (s) |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for corpus in ("iemocap", "msp"):
        gen = results["generate"].get(corpus)
        if gen is None:
            continue
        n = gen["stats"].get("utterances", gen["stats"].get("segments"))
        if gen["reused"]:
            print(f"| generate {corpus} (reused from --work) | {n} | | | |")
        else:
            print(
                f"| generate {corpus} | {n} | {gen['seconds']:.1f} | {n / gen['seconds']:.1f} | |"
            )
    for case in ("iemocap", "msp"):
        if case in results:
            r = results[case]
            print(
                f"| prepare {case} | {r['utterances']} of {r['turns']} | {r['seconds']:.2f} "
                f"| {r['utt_per_s']:.0f} | {r['second_call_s']:.3f} |"
            )


def run_cases(cases, args, work):
    """Runs the steps, each with its own peak memory; returns ``{step: figures}``."""
    results = {}
    for case in cases:
        probe = MemoryProbe()
        results[case] = {"case": case, **run_case(case, args, work), **probe.report()}
    return results


def main(argv=None):
    """Runs some steps (``--case``) or all of them and prints the figures."""
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    work = args.work or tempfile.mkdtemp(prefix="prep_bench_")
    cases = args.case or [c for c in CASES if c != "msp" or args.msp_size]
    results = run_cases(cases, args, work)
    write_json(args.json, {"cases": list(results.values())})
    if "generate" in results and "iemocap" in results:
        print_table(results)
    else:
        print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
