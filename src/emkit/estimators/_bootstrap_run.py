"""Run independent bootstrap tasks serially, on local cores or on a Dask cluster.

One job: map a module-level function over task specifications and return the
results in the order of the specifications. ``n_jobs`` > 1 uses joblib's
process pool (which limits each worker's BLAS threads); a
``dask.distributed.Client`` runs the same function through ``client.map`` with
the shared arguments scattered once. ``progress=True`` shows a rich progress bar.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from numbers import Integral
from typing import Any

__all__ = ["run_tasks", "check_n_jobs"]


def check_n_jobs(n_jobs: Any) -> int:
    """``n_jobs`` as a worker count: None means 1, -1 all cores.

    Raises
    ------
    ValueError
        When ``n_jobs`` is not None, -1 or a positive integer.
    """
    if n_jobs is None:
        return 1
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, Integral) or (n_jobs < 1
                                                                         and n_jobs != -1):
        raise ValueError(f"n_jobs must be None, -1 or an integer >= 1, got {n_jobs!r}")
    if n_jobs == -1:
        import os

        return max(1, os.cpu_count() or 1)
    return int(n_jobs)


class _Bar:
    """A rich progress bar, or nothing."""

    def __init__(self, enabled: bool, total: int, label: str):
        self.progress = None
        if enabled:
            from rich.progress import Progress

            self.progress = Progress(transient=False)
            self.progress.start()
            self.task = self.progress.add_task(label, total=total)

    def advance(self, n: int = 1) -> None:
        if self.progress is not None:
            self.progress.advance(self.task, n)

    def close(self) -> None:
        if self.progress is not None:
            self.progress.stop()


def run_tasks(func: Callable[..., Any], specs: Sequence[Any], shared: dict[str, Any], *,
              n_jobs: Any = None, client: Any = None, progress: bool = False,
              label: str = "bootstrap") -> list[Any]:
    """``[func(spec, **shared) for spec in specs]``, possibly in parallel.

    Parameters
    ----------
    func : callable
        A module-level function (it is sent to other processes).
    specs : sequence
        One task specification per call.
    shared : dict
        Keyword arguments common to every call (data, the fitted estimator).
    n_jobs : int or None
        Local worker processes (None: 1, run here; -1: all cores). Ignored with ``client``.
    client : dask.distributed.Client or None
        Run the calls on this cluster instead.
    progress : bool
        Show a progress bar.

    Returns
    -------
    list
        The results, in the order of ``specs``.
    """
    workers = check_n_jobs(n_jobs)
    bar = _Bar(bool(progress), len(specs), label)
    try:
        if client is not None:
            if not hasattr(client, "map") or not hasattr(client, "scatter"):
                raise ValueError("client must be a dask.distributed.Client (it needs map and "
                                 f"scatter), got {type(client).__name__}")
            from dask.distributed import as_completed

            futures_shared = {k: client.scatter(v, broadcast=True) for k, v in shared.items()}
            futures = client.map(func, list(specs), pure=False, **futures_shared)
            for _ in as_completed(futures):
                bar.advance()
            return list(client.gather(futures))
        if workers == 1 or len(specs) <= 1:
            out = []
            for spec in specs:
                out.append(func(spec, **shared))
                bar.advance()
            return out
        from joblib import Parallel, delayed  # type: ignore[import-untyped]

        results = []
        parallel = Parallel(n_jobs=workers, return_as="generator")
        for result in parallel(delayed(func)(spec, **shared) for spec in specs):
            results.append(result)
            bar.advance()
        return results
    finally:
        bar.close()
