"""Gaussian numerics shared by every Gaussian model in emkit.

What lives here
---------------
``reference.py``
    The NumPy reference: precision Cholesky factors and the Gaussian log-density
    (one whitening product per component). It is the oracle every blocked and
    compiled path is tested against (``tests/test_numerics_agree.py``); the row
    log-sum-exp's reference is :mod:`emkit.numerics.logsumexp`.
``prepared.py``
    Per-E-step factors and coefficients of K Gaussians, and the centring groups
    that keep the expanded quadratic forms exact for components far apart.
``blocked.py``
    The same arithmetic batched into a few BLAS calls per row chunk (NumPy,
    quadratic-feature form) for the Gaussian-mixture E-step.
``kernels.py``
    The compiled (numba) one-pass E-step in quadratic-feature form.
``m_step.py``
    The M-step of Gaussian components from their additive statistics (weights,
    means and covariances), shared by the mixtures and the Gaussian distribution.
``constrained.py``, ``constrained_family.py``
    mclust's fourteen constrained covariance M-steps, and the test of whether
    matrices belong to a model's family.
``conditional.py``
    Conditional Gaussians: the factors of an observed block, the regression of
    the missing block on it and its conditional covariance.
``constrained_mean.py``
    The Gaussian M-step with some entries frozen: the conditional mean of the
    free block given the frozen one, constrained weights, covariances about
    constrained means (shared by the frozen mixtures and the HMM state masks).
``compiled_steps.py``
    A small Gaussian mixture's whole E-step, and its M-step, each one compiled call.
``cholesky_kernels.py``, ``component_kernels.py``, ``slack_kernels.py``
    Compiled Cholesky factors of K small matrices, K components' log-densities and
    moments, and the full-covariance ``reg_covar`` slack.
``conjugate_prior.py``, ``map_step.py``, ``constrained_kernels.py``
    mclust's conjugate prior, the MAP M-step under conjugate priors and a variance
    floor, and the compiled inner iterations of mclust's iterative M-steps.
``missing_patterns.py``, ``missing_kernels.py``
    Rows with NaN grouped by missing pattern, and the compiled observed-block
    log-densities and expected moments of C components over such rows (the
    missing-data mixture and the HMM states' missing-data path).

What it may import
------------------
NumPy, SciPy, numba, :mod:`emkit.numerics` and :mod:`emkit.exceptions`; never a
model, distribution, backend or estimator.
"""
