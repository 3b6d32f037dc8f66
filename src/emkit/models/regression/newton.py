"""The safeguarded Newton step of generalized EM, from additive statistics alone.

The code lives in :mod:`emkit.numerics.newton`, shared with the multinomial logit
of concomitant variables (:mod:`emkit.numerics.multinomial_logit`); this module
keeps its names here.
"""

from __future__ import annotations

from ...numerics.newton import MAX_HALVINGS, newton_direction, safeguarded_step

__all__ = ["newton_direction", "safeguarded_step", "MAX_HALVINGS"]
