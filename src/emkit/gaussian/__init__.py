"""Gaussian numerics shared by every Gaussian model in emkit.

What lives here
---------------
``reference.py``
    The NumPy reference: precision Cholesky factors, the Gaussian log-density
    (one whitening product per component) and the row log-sum-exp. It is the
    oracle every compiled path is tested against.
``blocked.py``
    The same arithmetic batched into a few BLAS calls per row chunk (NumPy,
    quadratic-feature form) for the Gaussian-mixture E-step.
``kernels.py``
    The compiled (numba) one-pass E-step in quadratic-feature form.
``constrained.py``
    mclust's fourteen constrained covariance M-steps.
``missing_information.py``
    Conditional Gaussians for data with missing values: the observed information
    of a normal fitted to incomplete rows.

What it may import
------------------
NumPy, SciPy, numba, :mod:`emkit.numerics` and :mod:`emkit.exceptions`; never a
model, distribution, backend or estimator.
"""
