"""Suite-wide settings.

BLAS runs single-threaded in the tests: the data here are small, and on a shared
two-core machine a second BLAS thread makes tiny matrix calls many times slower.
"""

from __future__ import annotations

import os

import matplotlib
from hypothesis import settings
from threadpoolctl import threadpool_limits

matplotlib.use("Agg")
os.environ.setdefault("MPLBACKEND", "Agg")

_BLAS_LIMIT = threadpool_limits(limits=1, user_api="blas")

# Property tests draw the same examples on every run (CI passes or fails
# reproducibly); a developer can still explore with --hypothesis-seed or a profile.
settings.register_profile("emkit", derandomize=True, deadline=None)
settings.load_profile("emkit")
