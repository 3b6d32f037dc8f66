"""Mixing weights as a multinomial logit of concomitant variables (flexmix's FLXPmultinom).

The code lives in :mod:`emkit.numerics.multinomial_logit`, shared with
:class:`emkit.MixtureModel`'s concomitant variables; this module keeps its names here.
"""

from __future__ import annotations

from ...numerics.multinomial_logit import log_mixing, mixing_m_step, mixing_stats

__all__ = ["log_mixing", "mixing_stats", "mixing_m_step"]
