"""Small numerical building blocks with no statistical model in them.

``fast_exp.py``
    ``exp`` of non-positive numbers as inline numba code that vectorizes.
``logsumexp.py``
    The row log-sum-exp: the NumPy reference and the compiled per-row kernel,
    tested to agree.

May import NumPy, SciPy and numba only.
"""
