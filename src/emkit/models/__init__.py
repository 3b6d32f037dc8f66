"""EMModel implementations: the math of each model, independent of any estimator.

Packages
--------
``mixture/``
    Gaussian mixtures (complete and missing data), mclust's constrained
    mixtures and their initialization, and the mixture of any
    :mod:`emkit.distributions` family.
``hmm/``
    The hidden Markov model: the model (:mod:`~emkit.models.hmm.model`), the
    compiled recursions, the emission families and their kernels.
``crowd/``
    Dawid-Skene and the other models of labels from several raters.
``regression/``
    Mixtures of regressions (Gaussian, Poisson, binomial GLMs) with mixing
    weights that may depend on concomitant variables.

What it may import
------------------
:mod:`emkit.distributions`, :mod:`emkit.gaussian`, :mod:`emkit.numerics`,
:mod:`emkit.engine` (statistics helpers) and :mod:`emkit.exceptions`; never a
backend, an estimator, the command line or plotting.
"""
