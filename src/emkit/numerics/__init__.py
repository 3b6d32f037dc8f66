"""Small numerical building blocks with no statistical model in them.

``fast_exp.py``
    ``exp`` of non-positive numbers as inline numba code that vectorizes.
``logsumexp.py``
    The row log-sum-exp and log-normalization: the NumPy reference. Compiled
    kernels keep their own loops, tested against it in
    ``tests/test_numerics_agree.py``.
``counts.py``
    Weighted counts of integer codes for many weight columns at once (compiled).
``nan_rows.py``
    The number of NaN entries of each row (compiled): where an HMM block's
    missing entries are.

May import NumPy, SciPy and numba only.
"""
