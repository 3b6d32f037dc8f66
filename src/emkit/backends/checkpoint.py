"""Checkpoints for long fits: write the parameters every N iterations, resume later.

A checkpoint is one ``.npz`` file in the style of emkit's model files
(:mod:`emkit.persistence`): a JSON header (``format``, ``version``, ``iteration``,
``loglik``, ``info``, a SHA-256 ``checksum``) and the parameter arrays, read back
with ``allow_pickle=False``. It is written to a temporary file and renamed, so an
interruption while writing leaves the previous checkpoint intact.

Plain EM is a deterministic map of the parameters, so a fit resumed from the
parameters of iteration ``k`` repeats exactly the steps the uninterrupted fit
made after iteration ``k``::

    ckpt = Checkpointer("fit.ckpt.npz", every=10)
    emkit.em(model, data, init, callback=ckpt)          # interrupted somewhere
    emkit.em(model, data, resume("fit.ckpt.npz"))       # goes on from the last save
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..atomic import atomic_write
from ..engine import Step
from ..persistence import _checksum, _decode, _encode, read_verified

__all__ = ["Checkpointer", "Checkpoint", "resume", "read_checkpoint", "chain_callbacks"]

FORMAT_NAME = "emkit-checkpoint"
FORMAT_VERSION = 1


@dataclass(frozen=True)
class Checkpoint:
    """What a checkpoint file holds.

    Attributes
    ----------
    params : object
        The parameters after ``iteration`` (same structure as the fit's ``init``).
    iteration : int
        Iterations done when it was written, counting those of earlier runs
        (see ``Checkpointer(start_iteration=...)``).
    loglik : float
        Log-likelihood at ``params``.
    info : dict
        The JSON-compatible ``info`` given to the :class:`Checkpointer`.
    """

    params: Any
    iteration: int
    loglik: float
    info: dict


def write_checkpoint(path: str | Path, params: Any, iteration: int, loglik: float,
                     info: dict | None = None) -> Path:
    """Write a checkpoint file atomically (:mod:`emkit.atomic`: temporary file + rename).

    Raises
    ------
    TypeError
        When ``params`` holds something other than arrays, numbers, strings and
        dicts/lists/tuples of them.
    """
    path = Path(path)
    arrays: dict[str, np.ndarray] = {}
    meta: dict[str, Any] = {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "iteration": int(iteration),
        "loglik": _encode(float(loglik), arrays, "loglik"),
        "info": _encode(dict(info or {}), arrays, "i"),
        "params": _encode(params, arrays, "p"),
    }
    meta["checksum"] = _checksum(meta, arrays)
    payload = np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8)
    with atomic_write(path) as fh:
        # mypy matches **arrays against savez's allow_pickle: bool as well; the keys
        # are dotted paths ("p.0.means"), never that name
        np.savez(fh, __meta__=payload, **arrays)  # type: ignore[arg-type]
    return path


def read_checkpoint(path: str | Path) -> Checkpoint:
    """Read a checkpoint file written by :class:`Checkpointer`.

    Raises
    ------
    ModelFileError
        (a ``ValueError``) when the file is missing, not a checkpoint, of another
        version, or fails its checksum.
    """
    meta, arrays = read_verified(Path(path), FORMAT_NAME, FORMAT_VERSION, "checkpoint")
    return Checkpoint(
        params=_decode(meta["params"], arrays),
        iteration=int(meta["iteration"]),
        loglik=float(_decode(meta["loglik"], arrays)),
        info=_decode(meta["info"], arrays),
    )


def resume(path: str | Path) -> Any:
    """The parameters stored in a checkpoint, to pass as ``init`` to resume a fit."""
    return read_checkpoint(path).params


class Checkpointer:
    """An :func:`emkit.em` callback writing the parameters every ``every`` iterations.

    Parameters
    ----------
    path : str or pathlib.Path
        The checkpoint file (overwritten at each save; ``.npz`` content).
    every : int, default 10
        Save after iterations ``every``, ``2 * every``, ...
    info : dict, optional
        JSON-compatible metadata stored with each save (e.g. the estimator's
        settings), returned as ``Checkpoint.info``.
    start_iteration : int, default 0
        Iterations done before this run (when resuming), added to the stored count.

    Attributes
    ----------
    last_saved : int or None
        The (total) iteration of the last save.

    Notes
    -----
    Returns ``None`` from the callback, so it never stops a run; combine it with
    other callbacks with :func:`chain_callbacks`.
    """

    def __init__(self, path: str | Path, every: int = 10, *, info: dict | None = None,
                 start_iteration: int = 0):
        if isinstance(every, bool) or not isinstance(every, int) or every < 1:
            raise ValueError(f"every must be an integer >= 1, got {every!r}")
        path = Path(path)
        if not path.parent.is_dir():
            raise ValueError(f"the checkpoint's directory {path.parent} does not exist")
        self.path = path
        self.every = every
        self.info = dict(info or {})
        self.start_iteration = int(start_iteration)
        self.last_saved: int | None = None

    def __call__(self, step: Step) -> None:
        if step.iteration % self.every == 0:
            total = self.start_iteration + step.iteration
            write_checkpoint(self.path, step.params, total, step.loglik, self.info)
            self.last_saved = total


def chain_callbacks(*callbacks: Callable[[Step], Any] | None) -> Callable[[Step], Any] | None:
    """One callback calling each given one in order; stops when any returns ``False``."""
    active = [cb for cb in callbacks if cb is not None]
    if not active:
        return None
    if len(active) == 1:
        return active[0]

    def chained(step: Step) -> bool:
        keep_going = True
        for cb in active:
            if cb(step) is False:
                keep_going = False
        return keep_going

    return chained
