"""Small bundled data sets."""

from __future__ import annotations

from importlib import resources

import pandas as pd

from .spoken_digits import SpokenDigits, load_spoken_digits

__all__ = ["load_faithful", "load_gradebook", "load_heart_transplant", "load_scene",
           "load_spoken_digits", "SpokenDigits", "path"]


def path(name: str) -> str:
    """Filesystem path of a bundled file, e.g. ``path("faithful.csv")``."""
    return str(resources.files(__package__).joinpath(name))


def load_faithful() -> pd.DataFrame:
    """Old Faithful geyser eruptions: 272 rows, ``eruptions`` and ``waiting`` (minutes).

    Härdle (1991), as shipped with R's ``datasets::faithful``.
    """
    return pd.read_csv(path("faithful.csv"))


def load_gradebook() -> pd.DataFrame:
    """A teacher's gradebook with missing marks: 30 students, 5 subjects (0-100).

    Columns ``student`` (first name) and ``math``, ``physics``, ``chemistry``,
    ``biology``, ``english`` (float, NaN where a mark is missing: 25 of the
    150 marks, no student and no subject entirely missing). Synthetic and fixed: the
    marks were drawn once from a general-ability factor, a science factor and a
    verbal factor, so the sciences correlate strongly (about 0.85-0.9) and
    English less (about 0.5), then rounded; each mark was then hidden with
    probability 0.15. The data set of the classic EM story, used by
    ``emkit impute`` and :class:`emkit.EMImputer`'s examples.
    """
    return pd.read_csv(path("gradebook.csv"))


def load_heart_transplant() -> pd.DataFrame:
    """Stanford heart-transplant survival: 69 patients, ``time``, ``event`` and ``age``.

    ``time`` is the days from the transplant to death or to the end of follow-up
    (1 to 1775), ``event`` is 1 where the death was observed (45 patients) and 0
    where the time is right-censored (24), ``age`` the age at transplant in years.
    Miller, R. (1976), "Least squares regression with censored data", *Biometrika*
    63(3), 449-464; the table as distributed with statsmodels
    (``statsmodels.datasets.heart``, columns ``survival``, ``censors``, ``age``).
    """
    return pd.read_csv(path("heart_transplant.csv"))


def load_scene(return_regions: bool = False):
    """A small synthetic photo for ``emkit segment``: 200 x 150 pixels, RGB uint8.

    Four flat-coloured regions (sky, grass, a red sun, a yellow house) with
    Gaussian noise (sd 12 per channel), generated once with a fixed seed (see
    :mod:`emkit.datasets._scene`).

    Returns
    -------
    image : ndarray of shape (150, 200, 3), dtype uint8
    regions : ndarray of shape (150, 200), only with ``return_regions=True``
        The true region of each pixel (0 sky, 1 grass, 2 sun, 3 house).
    """
    import numpy as np
    from PIL import Image

    from ._scene import scene_regions

    with Image.open(path("scene.png")) as img:
        image = np.asarray(img.convert("RGB"))
    return (image, scene_regions()) if return_regions else image

