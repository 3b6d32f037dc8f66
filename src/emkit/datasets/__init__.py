"""Small bundled data sets."""

from __future__ import annotations

from importlib import resources

import pandas as pd

__all__ = ["load_faithful", "path"]


def path(name: str) -> str:
    """Filesystem path of a bundled file, e.g. ``path("faithful.csv")``."""
    return str(resources.files(__package__).joinpath(name))


def load_faithful() -> pd.DataFrame:
    """Old Faithful geyser eruptions: 272 rows, ``eruptions`` and ``waiting`` (minutes).

    Härdle (1991), as shipped with R's ``datasets::faithful``.
    """
    return pd.read_csv(path("faithful.csv"))
