"""Mixtures of regressions (flexmix's ``FLXMRglm``), with concomitant variables.

Modules
-------
``families``
    The response families (Gaussian, Poisson, binomial): log-densities given the
    linear predictor, and the working quantities of their Newton steps.
``newton``
    The safeguarded Newton step of a concave objective from its additive
    gradient and Hessian: step-halving on a lower bound of the gain, so every
    step raises the objective (generalized EM).
``mixing``
    Mixing weights as a multinomial logit of concomitant variables
    (``FLXPmultinom``): log-weights, statistics and their M-step.
``kernel``
    The compiled E-step: densities, responsibilities and the additive
    statistics of a chunk of rows in one pass.
``model``
    :class:`~emkit.models.regression.model.RegressionMixtureEM`, the EM model.

What it may import
------------------
:mod:`emkit.numerics`, :mod:`emkit.engine` and :mod:`emkit.exceptions`; never a
backend, an estimator, the command line or plotting.
"""
