"""Design rows of a regression mixture: a leading 1 and the columns scaled into [-1, 1].

The code lives in :mod:`emkit.numerics.design_scaling`, shared with
:class:`emkit.MixtureModel`'s concomitant variables; this module keeps its name here.
"""

from __future__ import annotations

from ...numerics.design_scaling import Design

__all__ = ["Design"]
