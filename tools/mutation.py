"""Mutation testing of the engine, ``stats`` and every M-step module (``make mutation``).

Each group (engine, gaussian, distributions) is mutated in its own copy of the tree
under ``build/mutation/<group>`` (so edits made while it runs do not mix in), with
mutmut's base configuration from ``pyproject.toml`` ([tool.mutmut]) and the group's
own test selection below, one worker, at the lowest CPU priority. Results go to
``build/mutation/results.json`` and a summary is printed: killed, timed out (a
mutant that makes EM run forever is caught too), survived and no-test counts per
module, and the surviving mutants by name (``mutmut show NAME`` in the group's
folder prints the diff).

Numba-compiled kernels are not mutated (mutmut leaves decorated functions alone,
and a mutated jitted kernel would be compiled once and cached anyway).

Usage: ``python tools/mutation.py [GROUP ...] [--without NAME_PREFIX ...] [--retest]
[--children N]``;
``--without tests/test_mutation_`` leaves the mutation tests out (the score before
they were written); ``--children N`` tests N mutants at once;
``--retest`` runs only the mutants that an earlier run of the
group left alive (in ``build/mutation/<group>-retest``, with the current tests) and
reports the earlier run's verdicts with those replaced (mutants an interrupted
earlier run did not reach are run too): adding tests can only kill more mutants,
so this equals a full run at a fraction of its cost.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "build" / "mutation"

ENGINE = ["loop", "run", "squarem", "steps", "stats", "online"]
FIT_FUNCTIONS = ["ǁ_fit_stats__", "ǁfit_components__", "ǁfit__", "ǁfrom_stats__",
                 "ǁfrom_stats_pooled__", "ǁm_step__", "ǁ_shape_step__", "ǁ_n_step__",
                 "ǁ_solve_dof__", "ǁ_conjugate_prior__", ".x_solve_gamma_shape__",
                 ".x_bracketed_root__", ".x_ratio_sum__", ".x__profile__",
                 ".x__profile_slope__", ".x__log_phi__", ".x__stacked_covariances__"]

GROUPS = {
    "engine": {
        "files": [f"src/emkit/engine/{m}.py" for m in ENGINE],
        "patterns": [f"emkit.engine.{m}.*" for m in ENGINE],
        "tests": ["tests/test_engine.py", "tests/test_stats.py",
                  "tests/test_properties_engine.py", "tests/test_online.py",
                  "tests/test_coverage_squarem.py", "tests/test_mutation_engine.py"],
    },
    "gaussian": {
        "files": ["src/emkit/gaussian/m_step.py", "src/emkit/gaussian/map_step.py"],
        "patterns": ["emkit.gaussian.m_step.*", "emkit.gaussian.map_step.*"],
        "tests": ["tests/test_mutation_gaussian_steps.py", "tests/test_distributions.py"],
    },
    "distributions": {
        "files": ["src/emkit/distributions/*.py"],
        "patterns": [f"emkit.distributions.*{name}*" for name in FIT_FUNCTIONS],
        "tests": ["tests/test_distributions.py", "tests/test_distributions_weibull_nbinom.py",
                  "tests/test_mutation_distributions.py"],
    },
}

# exit codes of mutmut's runs; 2 is pytest's "interrupted": the mutant let a
# KeyboardInterrupt escape that the code must catch, which the test run reports
STATUS = {1: "killed", 2: "killed", 3: "killed", 0: "survived", 5: "no tests", 33: "no tests",
          34: "skipped", 36: "timeout", 24: "timeout", -24: "timeout", 152: "timeout",
          255: "timeout", -9: "segfault", -11: "segfault"}


def toml_list(items: list[str]) -> str:
    return "[" + ", ".join(json.dumps(i, ensure_ascii=False) for i in items) + "]"


def prepare(group: str, without: list[str], folder: str | None = None) -> Path:
    spec = GROUPS[group]
    work = OUT / (folder or group)
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    shutil.copytree(ROOT / "src", work / "src", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "tests", work / "tests",
                    ignore=shutil.ignore_patterns("__pycache__", "peers"))
    tests = [t for t in spec["tests"] if not any(t.startswith(w) for w in without)]
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    lines = text.splitlines()
    start = lines.index("[tool.mutmut]")
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("[")),
               len(lines))
    # the group's only_mutate and test selection replace the base lists (which may
    # span several lines)
    kept, skipping = [], False
    for line in lines[start:end]:
        if line.startswith(("only_mutate", "pytest_add_cli_args_test_selection")):
            skipping = not line.rstrip().endswith("]")
            continue
        if skipping:
            skipping = not line.strip().endswith("]")
            continue
        kept.append(line)
    section = [*kept, f"only_mutate = {toml_list(spec['files'])}",
               f"pytest_add_cli_args_test_selection = {toml_list(tests)}"]
    (work / "pyproject.toml").write_text("\n".join(lines[:start] + section + lines[end:])
                                         + "\n", encoding="utf-8")
    return work


def run(group: str, without: list[str], names: list[str] | None = None,
        children: int = 1) -> None:
    work = prepare(group, without, None if names is None else f"{group}-retest")
    mutmut = str(Path(sys.executable).with_name("mutmut"))
    command = ["nice", "-n", "19", mutmut, "run", "--max-children", str(children),
               *(GROUPS[group]["patterns"] if names is None else names)]
    with open(work / "mutmut.log", "w", encoding="utf-8") as log:
        subprocess.run(command, cwd=work, stdout=log, stderr=subprocess.STDOUT, check=False,
                       env={**os.environ, "PYTHONHASHSEED": "0"})


def verdicts(group: str, folder: str | None = None,
             unchecked: bool = False) -> dict[str, str]:
    """{mutant name: status} of the group's mutants checked in ``folder`` (with
    ``unchecked``, also those the run did not reach, as "not checked")."""
    import fnmatch

    work = OUT / (folder or group)
    out = {}
    for meta in glob.glob(str(work / "mutants" / "src" / "**" / "*.meta"), recursive=True):
        data = json.loads(Path(meta).read_text(encoding="utf-8"))
        for name, code in data.get("exit_code_by_key", {}).items():
            if (code is not None or unchecked) and any(fnmatch.fnmatch(name, p)
                                                       for p in GROUPS[group]["patterns"]):
                out[name] = "not checked" if code is None else STATUS.get(code, "suspicious")
    return out


ALIVE = ("survived", "no tests", "suspicious")


def tally(found: dict[str, str]) -> dict:
    modules: dict[str, dict] = {}
    for name, status in found.items():
        entry = modules.setdefault(name.split(".x")[0], {"counts": {}, "survived": []})
        entry["counts"][status] = entry["counts"].get(status, 0) + 1
        if status in ALIVE:
            entry["survived"].append(name)
    return modules


def summary(results: dict) -> str:
    rows = ["| module | mutants | killed | timeout | survived | no tests | score |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for group in results:
        for module, entry in sorted(results[group].items()):
            c = entry["counts"]
            caught = c.get("killed", 0) + c.get("timeout", 0)
            total = sum(v for k, v in c.items() if k != "not checked")
            score = 100.0 * caught / total if total else float("nan")
            rows.append(f"| {module} | {total} | {c.get('killed', 0)} | {c.get('timeout', 0)} "
                        f"| {c.get('survived', 0)} | {c.get('no tests', 0)} | {score:.1f} % |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("groups", nargs="*", help=f"some of {', '.join(GROUPS)} (default all)")
    parser.add_argument("--without", action="append", default=[])
    parser.add_argument("--collect-only", action="store_true")
    parser.add_argument("--retest", action="store_true")
    parser.add_argument("--children", type=int, default=1,
                        help="mutants tested at once (default 1)")
    args = parser.parse_args(argv)
    unknown = set(args.groups) - set(GROUPS)
    if unknown:
        parser.error(f"unknown group(s) {', '.join(sorted(unknown))}; use {', '.join(GROUPS)}")
    results = {}
    for group in args.groups or list(GROUPS):
        if args.retest:
            # the mutants left alive, and those an interrupted earlier run did not reach
            earlier = verdicts(group, unchecked=True)
            alive = sorted(n for n, status in earlier.items()
                           if status in (*ALIVE, "not checked"))
            if not args.collect_only and alive:
                run(group, args.without, alive, args.children)
            earlier.update({n: v for n, v in verdicts(group, f"{group}-retest").items()
                            if n in alive})
            results[group] = tally(earlier)
            continue
        if not args.collect_only:
            run(group, args.without, children=args.children)
        results[group] = tally(verdicts(group))
    OUT.mkdir(parents=True, exist_ok=True)
    name = "results-retest.json" if args.retest else "results.json"
    tmp = OUT / (name + ".tmp")
    tmp.write_text(json.dumps(results, indent=1, ensure_ascii=False), encoding="utf-8")
    os.replace(tmp, OUT / name)
    print(summary(results))
    for group in results:
        for entry in results[group].values():
            for name in sorted(entry["survived"]):
                print(f"survived: {name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
