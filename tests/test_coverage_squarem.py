"""SQUAREM's safeguards, one by one: step length, failing and non-finite extrapolations."""

from __future__ import annotations

import math

import numpy as np

import emkit
from emkit.engine.squarem import _step_length, _try_extrapolate
from emkit.engine.stats import tree_flatten
from emkit.examples.textbook import NormalMixture1D


def test_step_length_is_clipped_and_one_on_a_flat_path():
    x0 = np.array([0.0, 0.0])
    assert _step_length(x0, x0, x0, 8.0) == 1.0  # no curvature: the plain path
    x1, x2 = np.array([1.0, 0.0]), np.array([1.5, 0.0])
    # ||r|| / ||v|| = 1 / 0.5 = 2, inside [1, 8]
    assert _step_length(x0, x1, x2, 8.0) == 2.0
    assert _step_length(x0, x1, x2, 1.5) == 1.5


class _Run:
    def __init__(self, e_step):
        self.model = type("M", (), {})()
        self._e_step = e_step

    def e_step(self, params):
        return self._e_step(params)


def test_an_extrapolation_that_raises_or_is_not_finite_is_rejected():
    theta = {"a": np.array([0.0, 1.0])}
    x0, tdef = tree_flatten(theta)
    x1, x2 = x0 + 1.0, x0 + 1.5

    def raises(params):
        raise ValueError("outside the domain")

    assert _try_extrapolate(_Run(raises), theta, tdef, 2.0, x0, x1, x2) is None
    assert _try_extrapolate(_Run(lambda p: ({}, -math.inf)), theta, tdef, 2.0, x0, x1,
                            x2) is None
    stats, loglik = _try_extrapolate(_Run(lambda p: ({"s": 1}, -3.0)), theta, tdef, 2.0, x0,
                                     x1, x2)
    assert loglik == -3.0 and stats == {"s": 1}


def test_squarem_from_the_maximum_stays_there():
    x = np.random.default_rng(0).normal(size=200)
    model = NormalMixture1D()
    init = {"weights": np.array([0.5, 0.5]), "means": np.array([-1.0, 1.0]),
            "variances": np.array([1.0, 1.0])}
    plain = emkit.em(model, x, init, tol=1e-13, max_iter=5000)
    again = emkit.em(model, x, plain.params, tol=1e-12, max_iter=50, accelerate="squarem")
    assert again.converged
    np.testing.assert_allclose(again.loglik, plain.loglik, rtol=1e-12)
