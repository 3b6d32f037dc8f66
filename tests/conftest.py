"""Suite-wide settings.

BLAS runs single-threaded in the tests: the data here are small, and on a shared
two-core machine a second BLAS thread makes tiny matrix calls many times slower.
"""

from __future__ import annotations

import os

import matplotlib
from threadpoolctl import threadpool_limits

matplotlib.use("Agg")
os.environ.setdefault("MPLBACKEND", "Agg")

_BLAS_LIMIT = threadpool_limits(limits=1, user_api="blas")
