"""Every log-sum-exp and Gaussian log-density path against its one NumPy reference.

The references are :func:`emkit.numerics.logsumexp.logsumexp_rows` (and
``log_normalize``) and :func:`emkit.gaussian.reference.log_gaussian_density`;
they are themselves held to SciPy here. Compiled kernels keep their own loops
(a compiled pass cannot call NumPy per row), so each loop is checked against the
reference:

* log-sum-exp: the normalize step of :mod:`emkit.gaussian.kernels` and the row
  loop of :mod:`emkit.models.mixture.gaussian_missing_kernels` to 1e-12
  relative; the blocked path's in-place form is the reference itself, and the
  HMM's frame shift reproduces it;
* Gaussian log-density: the blocked BLAS path, the compiled mixture kernel, the
  compiled missing-data kernel (complete rows, and the marginal of observed
  columns), the HMM's compiled full and diagonal densities, to 1e-10 relative
  (with an absolute floor of 1e-10 times the largest value, where a
  log-density crosses 0), and the reference to SciPy's to 1e-12.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sps
from scipy.special import logsumexp, softmax

from emkit.gaussian import kernels as mixture_kernels
from emkit.gaussian.blocked import log_gaussian_density_fast, log_resp_inplace, prepare_gaussians
from emkit.gaussian.component_kernels import diag_gaussian, full_gaussian
from emkit.gaussian.reference import log_gaussian_density, precision_cholesky
from emkit.models.hmm import recursions
from emkit.models.mixture import gaussian_missing_kernels as missing_kernels
from emkit.numerics.logsumexp import log_normalize, logsumexp_rows

TYPES = ["full", "tied", "diag", "spherical"]


# ----------------------------------------------------------------- log-sum-exp rows
def _hard_rows(seed: int = 0) -> np.ndarray:
    """(n, 4) log-values: ordinary, huge, tiny, mixed scales, with -inf entries."""
    rng = np.random.default_rng(seed)
    rows = [
        rng.normal(0.0, 3.0, size=(20, 4)),
        rng.normal(-800.0, 50.0, size=(10, 4)),  # exp underflows without the shift
        rng.normal(700.0, 20.0, size=(10, 4)),  # exp overflows without the shift
        np.array([[1e300, 1e300, 0.0, -1e300], [-1e300, -1e300, -1e300, -1e300],
                  [1e-300, -1e-300, 0.0, 5e-324], [0.0, -745.0, -746.0, -1e4],
                  [3.0, 3.0, 3.0, 3.0], [-1e10, 1e10, 0.0, 1.0]]),
        rng.uniform(-40.0, 40.0, size=(10, 4)),
    ]
    out = np.vstack(rows)
    out[1, 2] = out[25, 0] = out[35, 1:3] = -np.inf  # impossible components
    return out


def test_reference_logsumexp_equals_scipy():
    a = _hard_rows()
    # atol: [0, -745, -746, -1e4] sums to 1 + 5e-324; the max shift is exact to
    # one unit of the maximum's scale, SciPy's log1p form also gets the 5e-324
    np.testing.assert_allclose(logsumexp_rows(a), logsumexp(a, axis=1), rtol=1e-14,
                               atol=1e-300)
    lse, resp = log_normalize(a)
    np.testing.assert_array_equal(lse, logsumexp_rows(a))
    with np.errstate(under="ignore"):
        np.testing.assert_allclose(resp, softmax(a, axis=1), rtol=1e-13, atol=1e-300)
    np.testing.assert_allclose(resp.sum(axis=1), 1.0, rtol=1e-14)


def test_reference_logsumexp_edge_rows_without_warnings():
    a = np.array([[-np.inf, -np.inf, -np.inf], [np.inf, 0.0, -np.inf], [np.nan, 0.0, 1.0],
                  [0.0, -np.inf, -np.inf]])
    expected = logsumexp(a, axis=1)
    np.testing.assert_array_equal(logsumexp_rows(a), expected)
    lse, resp = log_normalize(a)
    np.testing.assert_array_equal(lse, expected)
    np.testing.assert_array_equal(resp[0], 0.0)  # an impossible row: no responsibility
    np.testing.assert_array_equal(resp[3], [1.0, 0.0, 0.0])
    assert np.isnan(resp[1, 0]) and np.all(np.isnan(resp[2]))
    # one component, and none
    one = np.array([[-np.inf], [2.5], [-1e300]])
    np.testing.assert_array_equal(logsumexp_rows(one), one[:, 0])
    np.testing.assert_array_equal(log_normalize(one)[1], [[0.0], [1.0], [1.0]])
    np.testing.assert_array_equal(logsumexp_rows(np.empty((2, 0))), [-np.inf, -np.inf])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_log_normalize_component_major_in_place(dtype):
    a = _hard_rows(1)
    a = a[np.isfinite(a).all(axis=1) & (np.abs(a).max(axis=1) < 1e30)].astype(dtype)
    expected_lse, expected_resp = log_normalize(a.astype(np.float64))
    buf = np.ascontiguousarray(a.T)
    lse, resp = log_normalize(buf, axis=0, out=buf)
    assert resp is buf and resp.dtype == dtype and lse.dtype == np.float64
    # float32: a few units of float32 rounding, absolute near lse = 0
    rtol, atol = (1e-14, 1e-300) if dtype == np.float64 else (1e-6, 1e-6)
    np.testing.assert_allclose(lse, expected_lse, rtol=rtol, atol=atol)
    np.testing.assert_allclose(buf.T, expected_resp, rtol=rtol, atol=atol)
    # the blocked E-step's in-place normalization is this call
    buf = np.ascontiguousarray(a.T)
    np.testing.assert_array_equal(log_resp_inplace(buf), lse)


def test_hmm_frame_shift_reproduces_the_reference():
    a = _hard_rows(2)
    frame, shift = recursions.frame_probabilities(a)
    np.testing.assert_allclose(np.log(frame.sum(axis=1)) + shift, logsumexp_rows(a), rtol=1e-14)


def _compiled_normalize(log_prob: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row log-sum-exps and responsibilities of ``log_prob`` (n, K) by the mixture
    kernel's ``_normalize_block``, one column of its (K, B) block per row."""
    n, k = log_prob.shape
    lse = np.empty(n)
    resp = np.empty((n, k))
    top, total, resp_t = np.empty(1), np.empty(1), np.empty((1, k))
    for i in range(n):
        block = log_prob[i][:, None].copy()  # the kernel overwrites its block
        lse[i] = mixture_kernels._normalize_block(block, 1, np.empty(0), 0, top, total, resp_t)
        resp[i] = resp_t[0]
    return lse, resp


def test_mixture_kernel_normalize_step_equals_reference():
    # its domain: rows with a finite maximum (mixture weights sum to one, so some
    # component always has a finite log-density); -inf entries are allowed
    a = _hard_rows(3)
    a = a[np.isfinite(a.max(axis=1))]
    lse, resp = _compiled_normalize(a)
    ref_lse, ref_resp = log_normalize(a)
    np.testing.assert_allclose(lse, ref_lse, rtol=1e-12)
    # exp_nonpositive is 0 below exp(-708.4), where NumPy still has subnormals
    np.testing.assert_allclose(resp, ref_resp, rtol=1e-12, atol=1e-300)
    # a whole block at once, weighted: the block's log-likelihood
    block = a.T.copy()
    w = np.random.default_rng(4).uniform(0.0, 2.0, len(a))
    k, m = block.shape
    got = mixture_kernels._normalize_block(block, m, w, 0, np.empty(m), np.empty(m),
                                           np.empty((m, k)))
    assert got == pytest.approx(float(w @ ref_lse), rel=1e-12)


@pytest.mark.parametrize("covariance_type", ["full", "diag", "spherical"])
@pytest.mark.parametrize("weighted", [False, True])
def test_mixture_kernel_pass_loglik_equals_reference_logsumexp(covariance_type, weighted):
    X, weights, means, cov = _problem(covariance_type, n=1000, d=3, k=4, seed=5)
    prep = prepare_gaussians(weights, means, cov, covariance_type)
    layout = mixture_kernels.FULL if covariance_type == "full" else mixture_kernels.DIAGONAL
    log_prob = np.empty((len(X), len(means)))
    mixture_kernels.quadratic_log_prob(X, prep.centres, prep.coef, layout, log_prob)
    sample_weight = np.random.default_rng(6).uniform(0, 3, len(X)) if weighted else None
    moments = np.zeros_like(prep.coef)
    loglik = mixture_kernels.quadratic_pass(X, sample_weight, prep.centres, prep.coef, layout,
                                            moments)
    row = logsumexp_rows(log_prob)
    expected = float(row.sum() if sample_weight is None else row @ sample_weight)
    assert loglik == pytest.approx(expected, rel=1e-12)


def _missing_kernel_logsumexp(log_values: np.ndarray) -> float:
    """The missing-data kernel's row log-sum-exp of ``log_values`` (K,): a row with
    no observed column has ``log_prob = log_weights`` exactly."""
    k = len(log_values)
    return missing_kernels._row_log_probs(
        np.zeros((1, 1)), 0, np.empty(0, dtype=np.int64), np.ascontiguousarray(log_values),
        np.zeros((k, 1)), np.zeros((k, 0, 0)), np.zeros(k), np.empty((k, 0)), np.empty(k))


def test_missing_kernel_logsumexp_equals_reference():
    a = _hard_rows(7)
    a = np.vstack([a, np.full((1, 4), -np.inf)])  # this loop also takes impossible rows
    got = np.array([_missing_kernel_logsumexp(row) for row in a])
    np.testing.assert_allclose(got, logsumexp_rows(a), rtol=1e-12)
    assert got[-1] == -np.inf


def test_missing_kernel_e_step_loglik_equals_reference_logsumexp():
    values, weights, bounds, masks, log_w, means, covs = _missing_problem(8)
    log_prob, bad = missing_kernels.small_patterns_log_prob(values, bounds, masks, log_w,
                                                            means, covs)
    assert bad == -1
    *_, loglik, bad = missing_kernels.small_patterns_e_step(values, weights, bounds, masks,
                                                            log_w, means, covs)
    assert bad == -1
    assert loglik == pytest.approx(float(weights @ logsumexp_rows(log_prob)), rel=1e-12)


# ----------------------------------------------------------------- Gaussian log-density
def _covariances(covariance_type: str, k: int, d: int, rng: np.random.Generator) -> np.ndarray:
    if covariance_type == "full":
        a = rng.standard_normal((k, d, d)) * 0.4
        return a @ a.transpose(0, 2, 1) + np.eye(d)
    if covariance_type == "tied":
        a = rng.standard_normal((d, d)) * 0.4
        return a @ a.T + np.eye(d)
    if covariance_type == "diag":
        return rng.uniform(0.3, 3.0, (k, d))
    return rng.uniform(0.3, 3.0, k)


def _problem(covariance_type: str, n: int = 400, d: int = 3, k: int = 4, seed: int = 0,
             offset: float = 0.0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d)) * np.linspace(0.5, 2.0, d) * 2.0 + offset
    means = rng.standard_normal((k, d)) * 2.0 + offset
    weights = rng.dirichlet(np.ones(k))
    return X, weights, means, _covariances(covariance_type, k, d, rng)


def _full_stack(cov: np.ndarray, covariance_type: str, k: int, d: int) -> np.ndarray:
    if covariance_type == "full":
        return cov
    if covariance_type == "tied":
        return np.broadcast_to(cov, (k, d, d))
    if covariance_type == "diag":
        return cov[:, :, None] * np.eye(d)
    return cov[:, None, None] * np.eye(d)


def _assert_density_close(got: np.ndarray, ref: np.ndarray, rtol: float) -> None:
    """Relative to the values, and to the largest of them where a log-density is
    near 0 (its sign can change there, so element-wise relative error means little)."""
    np.testing.assert_allclose(got, ref, rtol=rtol, atol=rtol * np.abs(ref).max())


@pytest.mark.parametrize("covariance_type", TYPES)
@pytest.mark.parametrize(("k", "d"), [(1, 1), (3, 2), (4, 5), (2, 12)])
def test_reference_density_equals_scipy(covariance_type, k, d):
    X, _, means, cov = _problem(covariance_type, n=60, d=d, k=k, seed=10 + d)
    prec = precision_cholesky(cov, covariance_type)
    ref = log_gaussian_density(X, means, prec, covariance_type)
    full = _full_stack(cov, covariance_type, k, d)
    expected = np.column_stack([sps.multivariate_normal(means[j], full[j]).logpdf(X).reshape(-1)
                                for j in range(k)])
    np.testing.assert_allclose(ref, expected, rtol=1e-12)


@pytest.mark.parametrize("covariance_type", TYPES)
@pytest.mark.parametrize(("k", "d"), [(1, 20), (4, 3), (3, 1)])  # full: whitening, quadratic
def test_blocked_density_equals_reference(covariance_type, k, d):
    X, _, means, cov = _problem(covariance_type, d=d, k=k, seed=20)
    ref = log_gaussian_density(X, means, precision_cholesky(cov, covariance_type),
                               covariance_type)
    fast = log_gaussian_density_fast(X, means, cov, covariance_type, chunk_size=77)
    _assert_density_close(fast, ref, 1e-10)


@pytest.mark.parametrize("covariance_type", ["full", "diag", "spherical"])
@pytest.mark.parametrize("n", [1, mixture_kernels.BLOCK_ROWS + 3])
def test_compiled_mixture_density_equals_reference(covariance_type, n):
    X, weights, means, cov = _problem(covariance_type, n=n, d=4, k=3, seed=30)
    prec = precision_cholesky(cov, covariance_type)
    ref = log_gaussian_density(X, means, prec, covariance_type)
    layout = mixture_kernels.FULL if covariance_type == "full" else mixture_kernels.DIAGONAL
    for w, log_w in ((None, 0.0), (weights, np.log(weights))):
        prep = prepare_gaussians(w, means, cov, covariance_type)
        out = np.empty((n, len(means)))
        mixture_kernels.quadratic_log_prob(X, prep.centres, prep.coef, layout, out)
        _assert_density_close(out, ref + log_w, 1e-10)


def _missing_problem(seed: int, k: int = 3, d: int = 4):
    rng = np.random.default_rng(seed)
    masks = np.zeros((4, d), dtype=bool)
    masks[1, 0] = masks[2, [1, 3]] = masks[3, 1:] = True
    bounds = np.array([0, 5, 8, 12, 13])
    values = rng.standard_normal((bounds[-1], d)) * 2.0
    weights = rng.uniform(0.5, 2.0, bounds[-1])
    means = rng.standard_normal((k, d))
    covs = _covariances("full", k, d, rng)
    return values, weights, bounds, masks, np.log(rng.dirichlet(np.ones(k))), means, covs


def test_compiled_missing_density_equals_reference():
    values, _, bounds, masks, log_w, means, covs = _missing_problem(40)
    log_prob, bad = missing_kernels.small_patterns_log_prob(values, bounds, masks, log_w,
                                                            means, covs)
    assert bad == -1
    for p in range(len(bounds) - 1):
        rows, obs = slice(bounds[p], bounds[p + 1]), ~masks[p]
        # complete rows (pattern 0), then the marginal density of the observed columns
        prec = precision_cholesky(covs[:, obs][:, :, obs], "full")
        ref = log_gaussian_density(values[rows][:, obs], means[:, obs], prec, "full") + log_w
        _assert_density_close(log_prob[rows], ref, 1e-10)


def test_compiled_missing_density_on_complete_rows():
    X, _, means, cov = _problem("full", n=300, d=5, k=4, seed=41)
    bounds = np.array([0, len(X)])
    masks = np.zeros((1, X.shape[1]), dtype=bool)
    log_prob, bad = missing_kernels.small_patterns_log_prob(X, bounds, masks, np.zeros(4),
                                                            means, cov)
    assert bad == -1
    ref = log_gaussian_density(X, means, precision_cholesky(cov, "full"), "full")
    _assert_density_close(log_prob, ref, 1e-10)


@pytest.mark.parametrize("offset", [0.0, 1e6])
def test_hmm_full_density_equals_reference(offset):
    X, _, means, cov = _problem("full", n=700, d=3, k=4, seed=50, offset=offset)
    prec = precision_cholesky(cov, "full")
    _assert_density_close(full_gaussian(X, means, prec),
                          log_gaussian_density(X, means, prec, "full"), 1e-10)


@pytest.mark.parametrize("covariance_type", ["diag", "spherical"])
@pytest.mark.parametrize("offset", [0.0, 100.0])
def test_hmm_diag_density_equals_reference(covariance_type, offset):
    X, _, means, cov = _problem(covariance_type, n=500, d=3, k=4, seed=60, offset=offset)
    prec = precision_cholesky(cov, covariance_type)
    ref = log_gaussian_density(X, means, prec, covariance_type)
    per_feature = prec if covariance_type == "diag" else np.repeat(prec[:, None], 3, axis=1)
    values, shift = diag_gaussian(X, means, per_feature)
    assert np.all(shift == 0.0)
    _assert_density_close(values, ref, 1e-10)
    frame, shift = diag_gaussian(X, means, per_feature, as_frame=True)
    with np.errstate(divide="ignore"):
        _assert_density_close(np.log(frame) + shift[:, None], ref, 1e-10)
