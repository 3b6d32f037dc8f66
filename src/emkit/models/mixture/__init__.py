"""Mixture models as :class:`emkit.EMModel` implementations.

``gaussian.py``
    The Gaussian mixture: parameters, additive statistics, the M-step, and the
    E-step dispatch to :mod:`emkit.gaussian`'s blocked and compiled paths.
``gaussian_missing.py``, ``missing_patterns.py``, ``gaussian_missing_kernels.py``
    The same mixture for data with NaN (missing at random): the rows grouped by
    missing pattern, and a compiled E-step for rare patterns.
``missing_information.py``
    The observed information of one normal fitted to incomplete rows (the
    standard errors of :class:`emkit.EMImputer`).
``mclust.py``, ``mclust_init.py``, ``mclust_hc.py``
    mclust's constrained-covariance mixtures and their starting partitions
    (``mclust_hc.py``: mclust's own hierarchical agglomeration, compiled).
``any_distribution.py``
    The mixture of any :mod:`emkit.distributions` components.

May import :mod:`emkit.distributions`, :mod:`emkit.gaussian`,
:mod:`emkit.numerics` and :mod:`emkit.engine`.
"""
