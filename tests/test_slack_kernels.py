"""The compiled full-covariance ``reg_covar`` slack against the eigenvalue formula."""

from __future__ import annotations

import math

import numpy as np
import pytest

from emkit.gaussian.slack_kernels import full_slack


def _formula(n: np.ndarray, shift: np.ndarray, outer: np.ndarray, reg: float) -> float:
    total = 0.0
    for c in range(len(n)):
        cov = outer[c] / n[c] - np.outer(shift[c], shift[c])
        for lam in np.linalg.eigvalsh(cov):
            t = reg / lam
            total += 0.5 * n[c] * (math.log1p(t) - t / (1.0 + t))
    return total


@pytest.mark.parametrize("d", [1, 2, 6])
def test_equals_formula(d: int) -> None:
    rng = np.random.default_rng(d)
    k = 4
    a = rng.standard_normal((k, d, d))
    n = rng.uniform(5.0, 50.0, k)
    shift = 0.1 * rng.standard_normal((k, d))
    cov = a @ a.transpose(0, 2, 1) + 0.05 * np.eye(d)
    outer = n[:, None, None] * (cov + shift[:, :, None] * shift[:, None, :])
    for reg in (1e-6, 1e-2, 1.0):
        assert full_slack(n, shift, outer, reg) == pytest.approx(
            _formula(n, shift, outer, reg), rel=1e-12)


def test_singular_indefinite_or_nan_is_infinite() -> None:
    n = np.array([10.0, 10.0])
    shift = np.zeros((2, 2))
    outer = np.stack([10.0 * np.eye(2), np.zeros((2, 2))])  # a zero covariance
    assert full_slack(n, shift, outer, 1e-6) == math.inf
    outer[1] = 10.0 * np.diag([1.0, -1.0])
    assert full_slack(n, shift, outer, 1e-6) == math.inf
    outer[1] = 10.0 * np.eye(2)
    assert math.isfinite(full_slack(n, shift, outer, 1e-6))
    outer[1, 0, 1] = np.nan
    assert full_slack(n, shift, outer, 1e-6) == math.inf
