"""Run every ``benchmarks/bench_*.py`` and write ``benchmarks/RESULTS.md``.

``python benchmarks/run_all.py [--quick] [name ...]`` runs all benchmarks, or only those
whose file names contain one of the given names.
"""

from __future__ import annotations

import datetime
import importlib.util
import os
import platform
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def machine_summary() -> str:
    import numpy as np
    import sklearn

    import emkit

    blas = ""
    try:
        from threadpoolctl import threadpool_info

        blas = ", ".join(sorted({f"{i['internal_api']} {i.get('version', '')}"
                                 for i in threadpool_info()}))
    except ImportError:  # pragma: no cover
        pass
    return (
        f"- date: {datetime.date.today().isoformat()}\n"
        f"- machine: {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}\n"
        f"- emkit {emkit.__version__}, numpy {np.__version__} ({blas}), "
        f"scikit-learn {sklearn.__version__}\n"
    )


def load(path: Path):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    return module


def main() -> None:
    quick = "--quick" in sys.argv
    wanted = [a for a in sys.argv[1:] if not a.startswith("--")]
    sys.path.insert(0, str(HERE))
    sections = []
    for path in sorted(HERE.glob("bench_*.py")):
        if wanted and not any(w in path.stem for w in wanted):
            continue
        print(f"running {path.name} ...", flush=True)
        section = load(path).main(quick=quick)
        print(section, flush=True)
        sections.append(section)
    text = (
        "# emkit benchmark results\n\n"
        "Written by `make bench` (benchmarks/run_all.py). Each script runs emkit and its "
        "peer side by side in one process; quote the ratios, not lone absolute times: the "
        "machine is shared and noisy.\n\n" + machine_summary() + "\n" + "\n".join(sections)
    )
    if not wanted:
        (HERE / "RESULTS.md").write_text(text)
        print(f"wrote {HERE / 'RESULTS.md'}")


if __name__ == "__main__":
    main()
