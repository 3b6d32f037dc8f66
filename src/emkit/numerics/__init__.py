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
``multinomial_logit_kernel.py``, ``design_blocks.py``
    The multinomial-logit E-step in one compiled pass over the rows (optional row
    weights), and the compiled pieces shared by passes over a scaled design.
``shared_mass.py``
    Probability rows with some entries frozen: the free ones share what is left.
``kmeans.py``
    scikit-learn's ``KMeans(n_init=1)`` on dense rows without scikit-learn (the
    same draws, labels and centres), for quick starts.
``parallel.py``
    When compiled kernels run in parallel, and which fast-math flags they may use.
``nan_rows.py``
    The number of NaN entries of each row (compiled): where an HMM block's
    missing entries are.

May import NumPy, SciPy and numba only.
"""
