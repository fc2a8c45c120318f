"""Helpers shared by the benchmark scripts: machine description, memory, results, subprocesses.

Every benchmark script can write its figures as JSON (``--json PATH``, a list of cases) so
that ``benchmarks/run_all.py`` can run each case in its own subprocess and report its peak
memory:

* peak RSS: ``VmHWM`` of ``/proc/self/status`` (``ru_maxrss`` where there is no ``/proc``).
  :class:`MemoryProbe` resets the high-water mark (``/proc/self/clear_refs``) when a case
  starts, so a case measured after another one in the same process still gets its own peak;
  the RSS when the case starts (interpreter and imports, plus whatever earlier cases left) is
  reported beside it;
* on CUDA, ``torch.cuda.max_memory_allocated`` (reset when the case starts too).

This is not a test module (pytest does not collect ``benchmarks/``).
"""

import json
import os
import platform
import resource
import subprocess
import sys
import threading
import time

MIB = 1024 * 1024


def log(message):
    """Prints a progress line to stderr (stdout is kept for the tables)."""
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def proc_status_kib(field):
    """A ``kB`` field of ``/proc/self/status`` (e.g. ``VmHWM``) in KiB, None without /proc."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def current_rss_mib():
    """Resident set size of this process now, MiB (None where unknown)."""
    kib = proc_status_kib("VmRSS")
    return None if kib is None else kib / 1024


def peak_rss_mib():
    """Peak resident set size of this process so far (VmHWM, else ru_maxrss), MiB."""
    kib = proc_status_kib("VmHWM")
    if kib is None:
        kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        if sys.platform == "darwin":  # bytes there
            kib /= 1024
    return kib / 1024


def reset_peak_rss():
    """Resets this process's RSS high-water mark to the current RSS (Linux 4.0+).

    Returns False where that is not possible (the peak then covers the whole process).
    """
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as clear_refs:
            clear_refs.write("5")
        return True
    except OSError:
        return False


class MemoryProbe:
    """Records the RSS when a case starts, then reports the case's peak RSS (and CUDA peak).

    Create it right before the case, after the imports: the difference between the peak and
    the start-up RSS is what the case itself allocated.
    """

    def __init__(self, device="cpu"):
        self.device = str(device)
        self.peak_was_reset = reset_peak_rss()
        self.startup_rss_mib = current_rss_mib()
        if self.device.startswith("cuda"):
            import torch

            torch.cuda.reset_peak_memory_stats(self.device)

    def report(self):
        """Dict of ``peak_rss_mib``, ``startup_rss_mib`` and (on CUDA) ``cuda_peak_mib``."""
        result = {
            "peak_rss_mib": peak_rss_mib(),
            "startup_rss_mib": self.startup_rss_mib,
            "peak_of_case_only": self.peak_was_reset,
        }
        if self.device.startswith("cuda"):
            import torch

            result["cuda_peak_mib"] = torch.cuda.max_memory_allocated(self.device) / MIB
        return result


def cpu_model():
    """CPU model name from /proc/cpuinfo (``platform.processor()`` elsewhere)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def machine_info(device="cpu"):
    """Machine description (CPU, cores, memory, torch, device, threads, load) as a dict.

    torch is not imported for it on CPU (the runner stays light); ``threads`` is then None
    unless this process already imported torch.
    """
    from importlib.metadata import version

    info = {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "torch": version("torch"),
        "device": str(device),
        "threads": sys.modules["torch"].get_num_threads() if "torch" in sys.modules else None,
        "python": platform.python_version(),
    }
    pages, page_size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
    info["memory_gib"] = round(pages * page_size / 1024**3, 1)
    if str(device).startswith("cuda"):
        import torch

        info["gpu"] = torch.cuda.get_device_name(device)
    if hasattr(os, "getloadavg"):
        info["load_average"] = [round(x, 2) for x in os.getloadavg()]
    return info


def torch_info():
    """``{"torch": version, "threads": thread count}`` of this process (for the JSON results)."""
    import torch

    return {"torch": torch.__version__, "threads": torch.get_num_threads()}


def write_json(path, data):
    """Writes ``data`` to ``path`` as JSON (no-op when path is None)."""
    if path is None:
        return
    with open(path, "w", encoding="utf-8") as out:
        json.dump(data, out, indent=2)


def add_case_options(parser, cases, case_help, json_help):
    """Adds ``--case`` (some of ``cases``, in the order given) and ``--json`` (the file of the
    results) to ``parser``: the options by which ``run_all.py`` runs cases in a child process.

    Example
    -------
    >>> import argparse
    >>> parser = argparse.ArgumentParser()
    >>> add_case_options(parser, ("a", "b"), "run these cases", "write the results here")
    >>> parser.parse_args(["--case", "b", "a", "--json", "r.json"])
    Namespace(case=['b', 'a'], json='r.json')
    """
    parser.add_argument("--case", nargs="+", choices=cases, default=None, help=case_help)
    parser.add_argument("--json", default=None, help=json_help)


def set_threads(threads):
    """``torch.set_num_threads`` when ``threads`` is given; returns the thread count in use."""
    import torch

    if threads is not None:
        torch.set_num_threads(threads)
    return torch.get_num_threads()


def run_child(cmd, json_path, timeout=None, env=None):
    """Runs benchmark cases in their own process and returns the JSON it wrote.

    The child's stderr (progress) goes to ours, its stdout is discarded. ``os.wait4`` gives
    the child's ``ru_maxrss``, added to the result as ``child_maxrss_mib`` (a cross-check of
    the peaks the child reports itself).

    Arguments
    ---------
    cmd : list of str
        Command; it must write its result to ``json_path``.
    json_path : str
        Where the child writes its result.
    timeout : float, optional
        Seconds before the child is killed (the result then holds an error).
    env : dict, optional
        Environment of the child.

    Returns
    -------
    dict
        The child's result, with ``child_maxrss_mib`` and ``wall_s``; ``{"error": ...}`` when
        it failed.
    """
    if os.path.exists(json_path):
        os.remove(json_path)
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, env=env)
    timer = threading.Timer(timeout, proc.kill) if timeout else None
    if timer:
        timer.start()
    try:
        _, status, usage = os.wait4(proc.pid, 0)
    finally:
        if timer:
            timer.cancel()
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - start
    if proc.returncode != 0 or not os.path.exists(json_path):
        log(f"FAILED (exit status {proc.returncode}): {' '.join(cmd)}")
        return {"error": f"exit status {proc.returncode} after {wall:.0f} s", "wall_s": wall}
    with open(json_path, encoding="utf-8") as result_file:
        result = json.load(result_file)
    result["child_maxrss_mib"] = usage.ru_maxrss / 1024
    result["wall_s"] = wall
    log(f"done in {wall:.1f} s")
    return result


def format_memory(result):
    """``"812 MiB (start 420)"`` plus ``"; CUDA 96 MiB"``, from a case's memory figures.

    The first number is the peak RSS of the case, the one in brackets the RSS of its process
    when the case started (interpreter, imports, and what earlier cases of the process kept).
    """
    peak = result.get("peak_rss_mib") or result.get("child_maxrss_mib")
    if peak is None:
        return "n/a"
    text = f"{peak:.0f} MiB"
    if result.get("startup_rss_mib") is not None:
        text += f" (start {result['startup_rss_mib']:.0f})"
    if result.get("cuda_peak_mib") is not None:
        text += f"; CUDA {result['cuda_peak_mib']:.0f} MiB"
    return text
