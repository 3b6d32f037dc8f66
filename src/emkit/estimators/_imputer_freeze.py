"""User starts and frozen parameters of :class:`~emkit.estimators.imputer.EMImputer`.

This module's one job is ``weights_init``, ``means_init``, ``covariances_init``
and ``freeze``: check them against the fitted attributes' shapes (``mean_`` and
``covariance_`` for one component, ``weights_``, ``means_`` and
``covariances_`` for a mixture), put the given start into the standardized units
EM runs in, and turn ``freeze`` into the masks of
:class:`~emkit.models.mixture.constrained_m_step.FrozenGaussianMixtureModel`,
whose exact constrained M-step (the GaussianMixture one, on the missing data's
expected statistics) keeps the frozen entries at the start. The change of units
is affine per column, so a frozen entry stays frozen and the constrained
maximizer maps to the constrained maximizer.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._supervision import check_freeze, check_something_free, check_whole_covariances

__all__ = ["ImputerFreeze"]


def _array(value: Any, shapes: tuple[tuple[int, ...], ...], name: str) -> np.ndarray:
    arr = np.asarray(value, dtype=np.float64)
    if arr.shape not in shapes:
        raise ValueError(f"{name} must have shape {' or '.join(map(str, shapes))}, "
                         f"got {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite")
    return arr


class ImputerFreeze:
    """Start and freeze methods of ``EMImputer`` (reads its parameters)."""

    n_components: int
    covariance_type: str
    weights_init: Any
    means_init: Any
    covariances_init: Any
    freeze: Any
    covariance_: np.ndarray
    covariances_: np.ndarray

    def _attribute_shapes(self, d: int) -> dict[str, tuple[int, ...]]:
        k, kind = int(self.n_components), self.covariance_type
        if k == 1:
            return {"mean_": (d,), "covariance_": (d, d)}
        cov = {"full": (k, d, d), "tied": (d, d), "diag": (k, d), "spherical": (k,)}[kind]
        return {"weights_": (k,), "means_": (k, d), "covariances_": cov}

    def _model_cov_shape(self, d: int) -> tuple[int, ...]:
        k = int(self.n_components)
        return {"full": (k, d, d), "tied": (d, d), "diag": (k, d),
                "spherical": (k,)}[self.covariance_type]

    def _freeze_masks(self, d: int) -> dict[str, np.ndarray]:
        """``freeze`` as the model's masks (``weights``, ``means``, ``covariances``
        in the model's shapes, True = frozen); empty without a frozen entry.

        Raises
        ------
        ValueError
            For an unknown attribute, a mask of the wrong shape or dtype, a
            covariance not frozen whole (one component's full matrix, the tied
            matrix; ``covariance_`` of one component takes True only), or a
            freeze that leaves nothing to fit.
        """
        shapes = self._attribute_shapes(d)
        masks = check_freeze(self.freeze, shapes)
        if not masks:
            return {}
        k, kind = int(self.n_components), self.covariance_type
        if k == 1:
            cov = masks.get("covariance_")
            if cov is not None and not cov.all():
                raise ValueError("freeze['covariance_'] must be True (the covariance is "
                                 "frozen whole)")
            check_something_free(masks, shapes, weights_key=None)
            out = {}
            if "mean_" in masks:
                out["means"] = masks["mean_"][None]
            if cov is not None:
                out["covariances"] = np.ones(self._model_cov_shape(d), dtype=bool)
            return out
        check_whole_covariances(masks.get("covariances_"), kind, k)
        check_something_free(masks, shapes)
        return {name.rstrip("_"): mask for name, mask in masks.items()}

    def _user_start(self, init: dict, center: np.ndarray, scale: np.ndarray) -> dict:
        """``init`` (standardized units) with the given ``*_init`` put in its place.

        Raises
        ------
        ValueError
            For a wrong shape, non-finite values, weights that are not positive
            and summing to one, ``weights_init`` with one component, or a
            covariance that is not symmetric positive definite (or, for one
            component with "diag"/"spherical", not diagonal / a multiple of I).
        """
        k, d, kind = int(self.n_components), len(center), self.covariance_type
        out = dict(init)
        if self.weights_init is not None:
            if k == 1:
                raise ValueError("weights_init needs n_components > 1")
            w = _array(self.weights_init, ((k,),), "weights_init")
            if np.any(w <= 0) or not abs(w.sum() - 1.0) < 1e-8:
                raise ValueError("weights_init must be positive and sum to 1, got "
                                 f"{w.tolist()}")
            out["weights"] = w / w.sum()
        if self.means_init is not None:
            shapes = ((d,), (1, d)) if k == 1 else ((k, d),)
            m = _array(self.means_init, shapes, "means_init").reshape(k, d)
            out["means"] = (m - center) / scale
        if self.covariances_init is not None:
            out["covariances"] = self._covariance_start(center, scale, k, d, kind)
        return out

    def _covariance_start(self, center: np.ndarray, scale: np.ndarray, k: int, d: int,
                          kind: str) -> np.ndarray:
        if k == 1:
            cov = _array(self.covariances_init, ((d, d),), "covariances_init")
            if kind == "diag":
                if np.any(cov[~np.eye(d, dtype=bool)] != 0):
                    raise ValueError("covariances_init for covariance_type='diag' must be "
                                     "a diagonal matrix")
                cov = np.diag(cov)[None]
            elif kind == "spherical":
                if np.any(cov != cov[0, 0] * np.eye(d)):
                    raise ValueError("covariances_init for covariance_type='spherical' must "
                                     "be a multiple of the identity")
                cov = np.array([cov[0, 0]])
            elif kind == "full":
                cov = cov[None]
        else:
            cov = _array(self.covariances_init, (self._model_cov_shape(d),), "covariances_init")
        if kind in ("full", "tied"):
            mats = cov.reshape(-1, d, d)
            if not np.allclose(mats, mats.transpose(0, 2, 1)):
                raise ValueError("covariances_init must be symmetric")
            try:
                np.linalg.cholesky(mats)
            except np.linalg.LinAlgError as exc:
                raise ValueError("covariances_init must be positive definite") from exc
            return cov / np.outer(scale, scale)
        if np.any(cov <= 0):
            raise ValueError("covariances_init must be positive")
        return cov / scale**2 if kind == "diag" else cov / scale[0] ** 2

    def _restore_frozen(self) -> None:
        """Put the given ``*_init`` values back into the frozen entries of the fitted
        attributes bit for bit (the change of units rounds them by an ulp)."""
        masks = getattr(self, "_masks", None) or {}
        if not masks:
            return
        k = int(self.n_components)
        if "means" in masks and self.means_init is not None:
            given = np.asarray(self.means_init, dtype=np.float64).reshape(k, -1)
            name = "mean_" if k == 1 else "means_"
            fitted = np.array(getattr(self, name), dtype=np.float64).reshape(k, -1)
            fitted[masks["means"]] = given[masks["means"]]
            setattr(self, name, fitted[0] if k == 1 else fitted)
        if "covariances" in masks and self.covariances_init is not None:
            given = np.asarray(self.covariances_init, dtype=np.float64)
            if k == 1:
                self.covariance_ = given.copy()
            else:
                fitted = np.array(self.covariances_, dtype=np.float64)
                fitted[masks["covariances"]] = given[masks["covariances"]]
                self.covariances_ = fitted

    def _free_mean_variances(self, info: np.ndarray, d: int, variances: Any) -> np.ndarray:
        """Variances of the free means from the information restricted to the free
        parameters (``variances(info, n)``: the first ``n`` diagonal entries of its
        inverse); 0 for a frozen mean entry (it is known)."""
        masks = getattr(self, "_masks", None) or {}
        frozen_mean = masks.get("means", np.zeros((1, d), dtype=bool))[0]
        keep = np.flatnonzero(~frozen_mean)
        if "covariances" not in masks:
            keep = np.r_[keep, np.arange(d, len(info))]
        out = np.zeros(d)
        n_free = int((~frozen_mean).sum())
        if n_free:
            out[~frozen_mean] = variances(info[np.ix_(keep, keep)], n_free)
        return out
