"""Mixtures of parametric survival distributions with right censoring and a cure fraction.

Modules
-------
``families``
    The exponential, Weibull and log-normal components: ``log f`` and ``log S``
    per row, the additive statistics of each component's part of EM's ``Q`` and
    its M-step from them.
``lognormal``
    The log-normal component's statistics and M-step: a Newton step on its part
    of ``Q`` with step-halving on a gain bound from the statistics.
``model``
    :class:`~emkit.models.survival.model.SurvivalMixtureEM`, the EM model.

What it may import
------------------
:mod:`emkit.distributions` (the Weibull's minorize-maximize shape step),
:mod:`emkit.numerics`, :mod:`emkit.engine` and :mod:`emkit.exceptions`; never a
backend, an estimator, the command line or plotting.
"""
