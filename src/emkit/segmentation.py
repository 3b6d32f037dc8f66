"""Image segmentation by a Gaussian mixture on pixel colours (and optionally position).

The mixture is fitted on a random subsample of pixels, so the fit costs the same
for a thumbnail and for a 20-megapixel photo; every pixel is then labelled in
chunks of rows (memory stays bounded: no (pixels x components) array is kept).

Features: colours scaled to [0, 1] per channel (uint8 images are divided by 255;
float images are taken as already in [0, 1]); with ``use_position=True`` also the
pixel's row and column scaled to [0, 1] and multiplied by ``position_weight``,
so that spatially separate regions of one colour can become separate segments.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd

from .estimators.mclust_mixture import MclustMixture
from .exceptions import ConvergenceWarning
from .models.mixture.mclust import log_joint

__all__ = ["segment_image", "render_segments", "image_features"]

_CHUNK_PIXELS = 1 << 18


def _as_image(image_array: Any) -> np.ndarray:
    image = np.asarray(image_array)
    if image.ndim == 2:
        image = image[:, :, None]
    if image.ndim != 3 or image.shape[2] not in (1, 3, 4):
        raise ValueError(
            f"image_array must have shape (height, width), (height, width, 3) or "
            f"(height, width, 4); got {image.shape}"
        )
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise ValueError(f"the image is empty (shape {image.shape})")
    if image.shape[2] == 4:
        image = image[:, :, :3]  # alpha does not describe a region's colour
    if not (np.issubdtype(image.dtype, np.integer) or np.issubdtype(image.dtype, np.floating)):
        raise ValueError(f"image_array must be numeric, got dtype {image.dtype}")
    return image


def _colour_scale(image: np.ndarray) -> float:
    if np.issubdtype(image.dtype, np.integer):
        return float(np.iinfo(image.dtype).max)
    if not np.all(np.isfinite(image)):
        raise ValueError("the image contains NaN or infinite values")
    return 1.0


def image_features(image: np.ndarray, flat_index: np.ndarray, *, use_position: bool,
                   position_weight: float, scale: float) -> np.ndarray:
    """Feature rows for the pixels ``flat_index`` (row-major) of ``image``.

    Returns
    -------
    ndarray of shape (len(flat_index), channels [+ 2])
    """
    h, w, c = image.shape
    colours = image.reshape(-1, c)[flat_index].astype(float) / scale
    if not use_position:
        return colours
    rows, cols = np.divmod(flat_index, w)
    pos = np.column_stack([rows / max(h - 1, 1), cols / max(w - 1, 1)]) * position_weight
    return np.hstack([colours, pos])


def segment_image(
    image_array: Any,
    n_components: int,
    use_position: bool = False,
    sample_size: int | None = 20000,
    random_state: Any = None,
    *,
    position_weight: float = 1.0,
    model: str = "VVV",
    reg_covar: float = 1e-6,
    max_iter: int = 200,
    tol: float = 1e-6,
) -> tuple[np.ndarray, pd.DataFrame]:
    """Segment an image into ``n_components`` colour (and position) clusters.

    Parameters
    ----------
    image_array : array-like of shape (height, width[, channels])
        Grey (2-D), RGB or RGBA (alpha ignored); integer (e.g. uint8) or float in [0, 1].
    n_components : int
        Number of segments.
    use_position : bool, default False
        Add the scaled pixel position to the colour features.
    sample_size : int or None, default 20000
        Pixels drawn at random to fit the mixture (None: all pixels).
    random_state : int, numpy Generator or None
        Seeds the pixel subsample (EM starts from Ward's agglomeration of 2000 of
        those pixels, falling back to k-means if that start fails).
    position_weight : float, default 1.0
        Multiplies the [0, 1] position features (larger: more compact segments).
    model : str, default "VVV"
        mclust covariance model of the mixture (see :func:`emkit.select_model`).
    reg_covar, max_iter, tol
        Passed to :class:`~emkit.estimators.mclust_mixture.MclustMixture`.

    Returns
    -------
    labels : ndarray of shape (height, width), int
        Segment of each pixel, ``0`` the largest segment.
    palette : pandas.DataFrame
        One row per segment: ``segment``, ``red``, ``green``, ``blue`` (the
        segment's mean colour, 0-255; grey images repeat one value), ``pixels``,
        ``fraction`` and ``weight`` (the fitted mixture weight).

    Raises
    ------
    ValueError
        For a bad image or argument, or when the fit fails.
    """
    image = _as_image(image_array)
    scale = _colour_scale(image)
    h, w, c = image.shape
    n_pixels = h * w
    if isinstance(n_components, bool) or not isinstance(n_components, (int, np.integer)) \
            or n_components < 1:
        raise ValueError(f"n_components must be an integer >= 1, got {n_components!r}")
    if sample_size is not None and (not isinstance(sample_size, (int, np.integer))
                                    or sample_size < n_components):
        raise ValueError(f"sample_size must be None or an integer >= n_components, "
                         f"got {sample_size!r}")
    if not position_weight > 0:
        raise ValueError(f"position_weight must be positive, got {position_weight!r}")
    rng = np.random.default_rng(random_state)
    if sample_size is None or sample_size >= n_pixels:
        fit_index = np.arange(n_pixels)
    else:
        fit_index = np.sort(rng.choice(n_pixels, size=int(sample_size), replace=False))

    def features(index: np.ndarray) -> np.ndarray:
        return image_features(image, index, use_position=use_position,
                              position_weight=position_weight, scale=scale)

    X_fit = features(fit_index)
    if n_components > len(np.unique(X_fit, axis=0)):
        raise ValueError(f"the sampled pixels have fewer distinct values than "
                         f"n_components={n_components}")
    # Ward's agglomeration (mclust's EII hc) of 2000 of the sampled pixels starts
    # EM: deterministic given the sample, and steadier than one k-means++ draw
    mixture = MclustMixture(model, int(n_components), init_params="hc", hc_model="EII",
                            hc_sample_size=2000, reg_covar=reg_covar, max_iter=max_iter,
                            tol=tol, random_state=rng)
    with warnings.catch_warnings():
        # a segmentation need not converge to the last digit
        warnings.simplefilter("ignore", ConvergenceWarning)
        mixture.fit(X_fit)
    params = {"weights": mixture.weights_, "means": mixture.means_,
              "covariances": mixture.covariances_}
    raw = np.empty(n_pixels, dtype=np.int64)
    for start in range(0, n_pixels, _CHUNK_PIXELS):
        index = np.arange(start, min(start + _CHUNK_PIXELS, n_pixels))
        raw[start : start + index.size] = log_joint(features(index), params).argmax(axis=1)
    counts = np.bincount(raw, minlength=n_components)
    order = np.argsort(-counts, kind="stable")  # segment 0 = the largest
    relabel = np.empty_like(order)
    relabel[order] = np.arange(n_components)
    labels = relabel[raw].reshape(h, w)
    colours = np.clip(mixture.means_[order, :c] * 255.0, 0, 255)
    if c == 1:
        colours = np.repeat(colours, 3, axis=1)
    palette = pd.DataFrame({
        "segment": np.arange(n_components),
        "red": np.rint(colours[:, 0]).astype(int),
        "green": np.rint(colours[:, 1]).astype(int),
        "blue": np.rint(colours[:, 2]).astype(int),
        "pixels": counts[order].astype(int),
        "fraction": counts[order] / n_pixels,
        "weight": mixture.weights_[order],
    })
    return labels, palette


def render_segments(labels: np.ndarray, palette: pd.DataFrame) -> np.ndarray:
    """Paint each pixel with its segment's colour: uint8 array of shape (height, width, 3)."""
    colours = palette.sort_values("segment")[["red", "green", "blue"]].to_numpy(np.uint8)
    labels = np.asarray(labels)
    if labels.min() < 0 or labels.max() >= len(colours):
        raise ValueError("labels refer to segments missing from the palette")
    return colours[labels]
