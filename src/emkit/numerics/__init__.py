"""Small numerical building blocks with no statistical model in them.

``fast_exp.py``
    ``exp`` of non-positive numbers as inline numba code that vectorizes.
``logsumexp.py``
    The row log-sum-exp and log-normalization: the NumPy reference. Compiled
    kernels keep their own loops, tested against it in
    ``tests/test_numerics_agree.py``.
``counts.py``
    Weighted counts of integer codes for many weight columns at once (compiled).
``newton.py``
    The safeguarded Newton step of generalized EM from additive gradient and
    Hessian statistics (step-halving on a lower bound of the gain).
``multinomial_logit.py``
    Mixing weights as a multinomial logit of concomitant variables: log-weights,
    additive statistics and their safeguarded Newton M-step.
``design_scaling.py``
    The ``[1, scaled columns]`` design rows of a linear predictor.
``simplex.py``
    Whether probability vectors sum to 1 closely enough for an E-step that takes
    their logs as given (SQUAREM's feasibility screens).
``nan_rows.py``
    The number of NaN entries of each row (compiled): where an HMM block's
    missing entries are.

May import NumPy, SciPy and numba only.
"""
