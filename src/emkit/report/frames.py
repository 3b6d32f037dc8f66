"""What the report's step explorer draws: the data to show and one frame per step.

Everything here is NumPy: a fitted estimator (read by duck typing, as
:mod:`emkit.plot` does) and the engine's :class:`~emkit.Step` records become a
plain, JSON-ready dict that the page's script draws. Large inputs are cut down
here and each cut is said in ``notes``:

* at most ``max_points`` rows are drawn (a random subsample, seed 0);
* at most ``max_frames`` steps get a frame (evenly spaced, first and last kept);
  the log-likelihood curve always has every step.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..engine import EMResult, Step

__all__ = ["full_covariances", "ellipse", "as_steps", "model_kind", "mixture_frames",
           "hmm_frames", "thin", "loglik_curve"]

#: Significant digits of the numbers embedded in the page.
DIGITS = 5


def _round(values: Any, digits: int = DIGITS) -> Any:
    """Floats rounded to ``digits`` significant digits, as nested lists (NaN -> None)."""
    array = np.asarray(values, dtype=float)
    out = np.array([float(f"{v:.{digits}g}") if np.isfinite(v) else np.nan
                    for v in array.ravel()]).reshape(array.shape)
    listed = out.tolist()
    if array.ndim == 0:
        return None if not np.isfinite(array) else listed
    return _none_for_nan(listed)


def _none_for_nan(value: Any) -> Any:
    if isinstance(value, list):
        return [_none_for_nan(v) for v in value]
    return None if isinstance(value, float) and not np.isfinite(value) else value


def full_covariances(cov: Any, covariance_type: str, k: int, d: int) -> np.ndarray:
    """Covariances of any storage as full matrices, shape (k, d, d).

    Parameters
    ----------
    cov : array-like
        As stored for ``covariance_type`` (scikit-learn's layouts).
    covariance_type : {"full", "tied", "diag", "spherical"}
    k, d : int
        Components and features.
    """
    cov = np.asarray(cov, dtype=float)
    if covariance_type == "full":
        return cov.reshape(k, d, d)
    if covariance_type == "tied":
        return np.broadcast_to(cov.reshape(d, d), (k, d, d)).copy()
    if covariance_type == "diag":
        return np.stack([np.diag(c) for c in cov.reshape(k, d)])
    if covariance_type == "spherical":
        return cov.reshape(k, 1, 1) * np.eye(d)
    raise ValueError("covariance_type must be 'full', 'tied', 'diag' or 'spherical', "
                     f"got {covariance_type!r}")


def ellipse(cov2: np.ndarray) -> tuple[float, float, float]:
    """The 1σ ellipse of a 2x2 covariance: semi-axes (major, minor) and angle in degrees.

    The major axis points along the eigenvector of the largest eigenvalue; the
    angle is measured from the first coordinate axis towards the second.
    """
    values, vectors = np.linalg.eigh(np.asarray(cov2, dtype=float))
    values = np.clip(values, 0.0, None)
    angle = float(np.degrees(np.arctan2(vectors[1, 1], vectors[0, 1])))
    return float(np.sqrt(values[1])), float(np.sqrt(values[0])), angle


def as_steps(steps: Any) -> list[Step]:
    """The Step records of ``steps`` (a list of Step, an EMResult or a StepRecorder)."""
    if isinstance(steps, EMResult):
        records = list(steps.steps)
    elif hasattr(steps, "best_run") and callable(steps.best_run):
        records = list(steps.best_run())
    elif steps is None:
        records = []
    else:
        try:
            records = list(steps)
        except TypeError:
            raise ValueError("steps: expected a sequence of emkit.Step records, an EMResult "
                             f"or a StepRecorder, got {type(steps).__name__}") from None
    if not all(isinstance(s, Step) for s in records):
        raise ValueError("steps: expected emkit.Step records (EMResult.steps, or "
                         "emkit.trace.StepRecorder().best_run() around the fit)")
    if not records:
        raise ValueError("steps: no EM steps to show; record them around the fit with "
                         "`with emkit.engine.observe(recorder := emkit.trace.StepRecorder()):"
                         " model.fit(X)` and pass recorder.best_run()")
    return records


def model_kind(model: Any) -> str:
    """``"hmm"``, ``"mixture"`` (Gaussian: means and covariances) or ``"other"``.

    Raises
    ------
    ValueError
        When the estimator is not fitted.
    """
    name = type(model).__name__
    # hmmlearn's conventions: HMMs decode and count iterations in ``n_iter``
    if callable(getattr(model, "decode", None)) and hasattr(model, "n_iter"):
        if not hasattr(model, "transmat_"):
            raise ValueError(f"model: this {name} is not fitted; call fit(X) before writing "
                             "its report")
        return "hmm"
    fitted = [a for a in ("weights_", "means_", "components_", "lower_bound_")
              if hasattr(model, a)]
    if not fitted:
        raise ValueError(f"model: this {name} is not fitted (no weights_, means_ or "
                         "lower_bound_); call fit(X) before writing its report")
    if hasattr(model, "means_") and hasattr(model, "covariances_"):
        return "mixture"
    return "other"


def thin(n: int, max_frames: int) -> np.ndarray:
    """Indices of at most ``max_frames`` of ``n`` steps, evenly spaced, first and last kept."""
    if n <= max_frames:
        return np.arange(n)
    return np.unique(np.round(np.linspace(0, n - 1, max_frames)).astype(int))


def loglik_curve(steps: Sequence[Step]) -> dict[str, Any]:
    """Every step's iteration, log-likelihood and gain, for the curve and the diagnostics."""
    return {"iteration": [int(s.iteration) for s in steps],
            "loglik": _round([s.loglik for s in steps], 10),
            "gain": _round([s.gain for s in steps], 6),
            "param_change": _round([s.param_change for s in steps], 4),
            "accelerated": [bool(s.accelerated) for s in steps]}


def _subsample(n: int, max_points: int) -> np.ndarray:
    if n <= max_points:
        return np.arange(n)
    rng = np.random.default_rng(0)
    return np.sort(rng.choice(n, size=max_points, replace=False))


def _step_mixture(params: Any, covariance_type: str) -> tuple[np.ndarray, np.ndarray,
                                                                np.ndarray]:
    if not isinstance(params, dict) or not {"weights", "means", "covariances"} <= set(params):
        raise ValueError("steps: these records do not hold Gaussian mixture parameters "
                         "(weights, means, covariances); were they recorded from this model?")
    weights = np.asarray(params["weights"], dtype=float)
    means = np.atleast_2d(np.asarray(params["means"], dtype=float))
    k, d = means.shape
    return weights, means, full_covariances(params["covariances"], covariance_type, k, d)


def _labels(X: np.ndarray, weights: np.ndarray, means: np.ndarray, cov: np.ndarray) -> np.ndarray:
    """The component of highest responsibility of each row (log space, Cholesky)."""
    from ..gaussian.reference import log_gaussian_density, precision_cholesky

    try:
        prec = precision_cholesky(cov, "full")
    except (ValueError, np.linalg.LinAlgError, ArithmeticError):
        return np.full(X.shape[0], -1)
    with np.errstate(divide="ignore"):
        joint = log_gaussian_density(X, means, prec, "full") + np.log(weights)
    return np.argmax(joint, axis=1)


def mixture_frames(X: np.ndarray, steps: Sequence[Step], covariance_type: str, *,
                   dims: Sequence[int] = (0, 1), max_points: int = 2000,
                   max_frames: int = 150) -> dict[str, Any]:
    """The explorer of a Gaussian mixture: points, and per step the components.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        The data (rows with NaN are not drawn).
    steps : sequence of Step
        The run; ``params`` are dicts of weights, means and covariances.
    covariance_type : str
        How the steps' covariances are stored.
    dims : pair of int
        The two columns drawn (one column when ``n_features == 1``).
    max_points, max_frames : int
        Most rows drawn and most frames made.

    Returns
    -------
    dict
        ``kind`` ("mixture2d" or "mixture1d"), ``points`` (2-D: x, y lists) or
        ``hist`` (1-D: bin edges and densities), ``frames`` (per shown step: index
        into ``steps``, weights, and ellipses ``[cx, cy, a, b, angle]`` in 2-D or
        ``[mean, sd]`` in 1-D; 2-D frames carry ``changes``, the ``[row, label]``
        pairs that differ from the previous frame, and the first frame all
        labels) and ``notes``.
    """
    notes: list[str] = []
    complete = np.flatnonzero(~np.isnan(X).any(axis=1))
    if complete.size < X.shape[0]:
        notes.append(f"{X.shape[0] - complete.size:,} rows with missing values are not drawn.")
    if complete.size == 0:
        raise ValueError("X: every row has a missing value; nothing to draw")
    pick = complete[_subsample(complete.size, max_points)]
    if pick.size < complete.size:
        notes.append(f"Showing a random subsample of {pick.size:,} of {complete.size:,} rows "
                     "(the fit used all of them).")
    shown = thin(len(steps), max_frames)
    if shown.size < len(steps):
        notes.append(f"The explorer has {shown.size} frames for {len(steps)} steps (evenly "
                     "spaced, first and last kept); the log-likelihood curve has every step.")
    rows = X[pick]
    d = X.shape[1]
    frames: list[dict[str, Any]] = []
    if d == 1:
        data = X[complete, 0]
        density, edges = np.histogram(data, bins="auto", density=True)
        if density.size > 80:
            density, edges = np.histogram(data, bins=80, density=True)
        for i in shown:
            weights, means, cov = _step_mixture(steps[i].params, covariance_type)
            frames.append({"step": int(i), "weights": _round(weights),
                           "components": _round(np.c_[means[:, 0], np.sqrt(cov[:, 0, 0])])})
        return {"kind": "mixture1d", "hist": {"edges": _round(edges), "density": _round(density)},
                "frames": frames, "notes": notes, "dims": [0]}
    dims = [int(dims[0]), int(dims[1])]
    previous: np.ndarray | None = None
    for i in shown:
        weights, means, cov = _step_mixture(steps[i].params, covariance_type)
        geometry = [[float(means[k, dims[0]]), float(means[k, dims[1]]),
                     *ellipse(cov[k][np.ix_(dims, dims)])] for k in range(len(weights))]
        labels = _labels(rows, weights, means, cov)
        frame: dict[str, Any] = {"step": int(i), "weights": _round(weights),
                                 "ellipses": _round(geometry)}
        if previous is None:
            frame["labels"] = labels.tolist()
        else:
            moved = np.flatnonzero(labels != previous)
            frame["changes"] = np.c_[moved, labels[moved]].ravel().tolist()
        previous = labels
        frames.append(frame)
    return {"kind": "mixture2d", "points": {"x": _round(rows[:, dims[0]], 4),
                                            "y": _round(rows[:, dims[1]], 4)},
            "frames": frames, "notes": notes, "dims": dims}


def _emission_band(params: Any, dim: int) -> tuple[float, float] | None:
    """Mean and standard deviation of one emission on column ``dim`` (None if unknown)."""
    if not isinstance(params, dict):
        return None
    centre = next((params[k] for k in ("mean", "means", "rate", "loc") if k in params), None)
    if centre is None:
        return None
    mean = np.ravel(np.asarray(centre, dtype=float))
    if mean.size == 0:
        return None
    m = float(mean[dim if mean.size > dim else 0])
    sd = float("nan")
    if "covariance" in params:
        cov = np.asarray(params["covariance"], dtype=float)
        var = cov[dim, dim] if cov.ndim == 2 else np.ravel(cov)[dim if cov.size > dim else 0]
        sd = float(np.sqrt(max(float(var), 0.0)))
    elif "rate" in params:
        sd = float(np.sqrt(max(m, 0.0)))  # Poisson: the variance is the rate
    return m, sd


def hmm_frames(X: np.ndarray, states: np.ndarray, steps: Sequence[Step], *, dim: int = 0,
               max_points: int = 4000, max_frames: int = 150) -> dict[str, Any]:
    """The explorer of an HMM: the sequence, its decoded states, and per step the states.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        The observations, sequences one after another.
    states : ndarray of shape (n_samples,)
        The decoded state of each frame (the fitted model's Viterbi path).
    steps : sequence of Step
        The run; ``params`` hold ``startprob``, ``transmat`` and ``emissions``.
    dim : int
        The column drawn.
    max_points, max_frames : int
        Most frames of the sequence drawn (every s-th one beyond) and most steps
        with a frame.

    Returns
    -------
    dict
        ``kind`` "hmm", ``series`` (t, x, state lists), ``frames`` (per shown step:
        ``transmat``, ``startprob`` and ``bands`` ``[mean, sd]`` per state, or
        None where the emission has no mean) and ``notes``.
    """
    notes: list[str] = []
    n = X.shape[0]
    stride = max(1, int(np.ceil(n / max_points)))
    t = np.arange(0, n, stride)
    if stride > 1:
        notes.append(f"The sequence plot shows every {stride}th of {n:,} frames "
                     f"({t.size:,} drawn); decoding used all of them.")
    shown = thin(len(steps), max_frames)
    if shown.size < len(steps):
        notes.append(f"The explorer has {shown.size} frames for {len(steps)} steps (evenly "
                     "spaced, first and last kept); the log-likelihood curve has every step.")
    frames: list[dict[str, Any]] = []
    for i in shown:
        params = steps[i].params
        if not isinstance(params, dict) or "transmat" not in params:
            raise ValueError("steps: these records do not hold HMM parameters (startprob, "
                             "transmat, emissions); were they recorded from this model?")
        emissions = params.get("emissions")
        bands = [(_emission_band(e, dim) if isinstance(emissions, (list, tuple)) else None)
                 for e in (emissions if isinstance(emissions, (list, tuple)) else [])]
        frames.append({"step": int(i),
                       "transmat": _round(np.asarray(params["transmat"], dtype=float), 3),
                       "startprob": _round(np.asarray(params.get("startprob", []),
                                                      dtype=float), 3),
                       "bands": [None if b is None else _round(list(b)) for b in bands]})
    return {"kind": "hmm", "series": {"t": t.tolist(), "x": _round(X[t, dim], 4),
                                      "state": np.asarray(states)[t].astype(int).tolist()},
            "frames": frames, "notes": notes, "dims": [int(dim)]}
