"""Start-up: ``emkit --help`` and ``emkit fit`` on Old Faithful, end to end.

Run ``python benchmarks/bench_startup.py`` (about a minute) or ``--quick``;
``--before DIR`` adds the same commands run from another source tree (``DIR/src``
on ``PYTHONPATH``, e.g. a ``git worktree`` of an older commit). Prints a Markdown
section; :func:`main` returns it.

What is measured: the wall time of each command in a fresh process
(``subprocess.run``), in interleaved rounds (every command once per round, so a
burst of load falls on all of them); the table gives each command's median, min
and max, and its median over the median of ``python -c "import numpy"`` (the
least any Python program using NumPy pays). The peer here is that bare import:
scikit-learn has no command line. Each round also records, for ``emkit fit``,
whether the process ever loaded ``scipy.stats`` (it should not: see
:mod:`emkit.cli._deferred`).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
FAITHFUL = HERE.parent / "src" / "emkit" / "datasets" / "faithful.csv"

#: The emkit program, run from the interpreter of this process.
EMKIT = [sys.executable, "-c", "import sys; from emkit.cli import main; sys.argv[0] = 'emkit'; "
         "main()"]


def commands(saved: Path) -> dict[str, list[str]]:
    return {
        "`python -c 'import numpy'`": [sys.executable, "-c", "import numpy"],
        "`emkit --help`": [*EMKIT, "--help"],
        "`emkit fit faithful.csv -k 3`": [*EMKIT, "fit", str(FAITHFUL), "-k", "3",
                                          "--save", str(saved)],
    }


def time_once(argv: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, check=True, env=env, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main(quick: bool = False, before: str | None = None) -> str:
    rounds = 3 if quick else 11
    with tempfile.TemporaryDirectory() as tmp:
        saved = Path(tmp) / "model.json"
        runs: dict[str, tuple[list[str], dict[str, str]]] = {}
        env = dict(os.environ)
        for name, argv in commands(saved).items():
            runs[name] = (argv, env)
        if before is not None:
            old_env = dict(os.environ, PYTHONPATH=str(Path(before) / "src"))
            for name, argv in list(commands(saved).items())[1:]:
                runs[f"before: {name}"] = (argv, old_env)
        for argv, run_env in runs.values():  # warm the caches (numba's, the OS's)
            time_once(argv, run_env)
        times: dict[str, list[float]] = {name: [] for name in runs}
        for _ in range(rounds):
            for name, (argv, run_env) in runs.items():
                times[name].append(time_once(argv, run_env))
        stats_loaded = subprocess.run(
            [sys.executable, "-c",
             "import atexit, sys; atexit.register(lambda: print(type(sys.modules.get("
             "'scipy.stats')).__name__)); from emkit.cli import main; "
             f"sys.argv = ['emkit', 'fit', {str(FAITHFUL)!r}, '-k', '3']; main()"],
            capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
    numpy_median = statistics.median(times["`python -c 'import numpy'`"])
    lines = [
        "## Start-up: `emkit --help` and `emkit fit` on Old Faithful",
        "",
        f"`python benchmarks/bench_startup.py`: {rounds} interleaved rounds, each command "
        "in a fresh process; seconds of wall time. Targets: `emkit --help` <= 0.5 s, "
        "`emkit fit` <= 1.5 s (median).",
        "",
        "| command | median s | min | max | / numpy import |",
        "| --- | --- | --- | --- | --- |",
    ]
    for name, values in times.items():
        median = statistics.median(values)
        lines.append(f"| {name} | {median:.3f} | {min(values):.3f} | {max(values):.3f} | "
                     f"{median / numpy_median:.2f} |")
    lines += ["", f"`scipy.stats` in `sys.modules` after `emkit fit`: `{stats_loaded}` "
              "(`DeferredModule`: never loaded).", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 rounds instead of 11")
    parser.add_argument("--before", help="another source tree to time beside this one")
    args = parser.parse_args()
    print(main(quick=args.quick, before=args.before))
