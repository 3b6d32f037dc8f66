"""Checkpoints: safe files every N iterations; a resumed fit repeats the uninterrupted one."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest

import emkit
from emkit.backends.checkpoint import (
    Checkpointer,
    chain_callbacks,
    read_checkpoint,
    resume,
    write_checkpoint,
)
from emkit.examples.textbook import NormalMixture1D, TwoCoins


def mixture_case(seed=0):
    rng = np.random.default_rng(seed)
    x = np.concatenate([rng.normal(-1, 1, 700), rng.normal(1.5, 0.7, 500)])
    init = {"weights": np.array([0.5, 0.5]), "means": np.array([-0.2, 0.3]),
            "variances": np.array([1.0, 1.0])}
    return x, init


def test_interrupted_and_resumed_fit_reaches_the_same_answer(tmp_path):
    x, init = mixture_case()
    model = NormalMixture1D()
    whole = emkit.em(model, x, init, tol=1e-9, max_iter=1000)
    assert whole.converged and whole.n_iter > 12

    path = tmp_path / "fit.ckpt.npz"
    saver = Checkpointer(path, every=5)

    def stop_after_seven(step):
        return step.iteration < 7

    first = emkit.em(model, x, init, tol=1e-9, max_iter=1000,
                     callback=chain_callbacks(saver, stop_after_seven))
    assert first.stop_reason == "callback" and first.n_iter == 7
    saved = read_checkpoint(path)
    assert saved.iteration == 5 == saver.last_saved
    np.testing.assert_allclose(saved.loglik, first.steps[4].loglik, rtol=0)

    resumed_saver = Checkpointer(path, every=5, start_iteration=saved.iteration)
    second = emkit.em(model, x, resume(path), tol=1e-9, max_iter=1000, callback=resumed_saver)
    # plain EM is a deterministic map: the resumed run repeats the remaining steps exactly
    assert saved.iteration + second.n_iter == whole.n_iter
    for key in init:
        np.testing.assert_array_equal(second.params[key], whole.params[key])
    assert second.loglik == whole.loglik
    assert read_checkpoint(path).iteration % 5 == 0 and read_checkpoint(path).iteration > 5


def test_squarem_fit_resumes_to_the_same_optimum(tmp_path):
    x, init = mixture_case(seed=1)
    model = NormalMixture1D()
    whole = emkit.em(model, x, init, tol=1e-10, accelerate="squarem")
    path = tmp_path / "sq.npz"
    emkit.em(model, x, init, tol=1e-10, accelerate="squarem",
             callback=chain_callbacks(Checkpointer(path, every=2), lambda s: s.iteration < 3))
    again = emkit.em(model, x, resume(path), tol=1e-10, accelerate="squarem")
    # SQUAREM's path depends on where it starts, so the two runs stop at different
    # points of the same flat top: both within tol of the optimum's log-likelihood
    # (plain EM run to exhaustion), and the parameters within sqrt(tol) of it
    optimum = emkit.em(model, x, init, tol=1e-15, max_iter=5000)
    for run in (whole, again):
        assert abs(run.loglik - optimum.loglik) <= 1e-10 * abs(optimum.loglik)
        for key in init:
            np.testing.assert_allclose(run.params[key], optimum.params[key], rtol=2e-5)


def test_checkpoint_round_trips_tuples_floats_and_info(tmp_path):
    path = tmp_path / "c.npz"
    params = {"coins": (0.25, 0.75), "table": np.arange(6.0).reshape(2, 3), "k": 3,
              "nested": [np.ones(2), {"s": -np.inf}]}
    write_checkpoint(path, params, 12, -3.5, info={"estimator": "GaussianMixture"})
    back = read_checkpoint(path)
    assert back.iteration == 12 and back.loglik == -3.5
    assert back.info == {"estimator": "GaussianMixture"}
    assert back.params["coins"] == (0.25, 0.75) and back.params["k"] == 3
    np.testing.assert_array_equal(back.params["table"], params["table"])
    assert back.params["nested"][1]["s"] == -np.inf
    assert [p.name for p in tmp_path.iterdir()] == ["c.npz"]  # no temporary left behind
    # TwoCoins-style tuple parameters resume as tuples
    result = emkit.em(TwoCoins(), np.array([[5.0, 10], [9, 10], [8, 10], [4, 10], [7, 10]]),
                      back.params["coins"], tol=1e-9)
    assert isinstance(result.params, tuple)


def test_damaged_or_foreign_files_are_refused(tmp_path):
    path = tmp_path / "c.npz"
    write_checkpoint(path, {"a": np.zeros(3)}, 1, 0.0)
    with zipfile.ZipFile(path) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    meta = json.loads(np.load(path)["__meta__"].tobytes())
    meta["iteration"] = 99
    tampered = tmp_path / "t.npz"
    np.savez(tampered, __meta__=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8),
             **{n[:-4]: np.load(path)[n[:-4]] for n in members if n != "__meta__.npy"})
    with pytest.raises(emkit.ModelFileError, match="checksum"):
        read_checkpoint(tampered)
    with pytest.raises(emkit.ModelFileError, match="no model file"):
        resume(tmp_path / "absent.npz")
    other = tmp_path / "o.npz"
    np.savez(other, __meta__=np.frombuffer(b'{"format": "emkit-model"}', dtype=np.uint8))
    with pytest.raises(emkit.ModelFileError, match="not an emkit checkpoint"):
        read_checkpoint(other)


def test_bad_arguments_are_refused(tmp_path):
    with pytest.raises(ValueError, match="every"):
        Checkpointer(tmp_path / "c.npz", every=0)
    with pytest.raises(ValueError, match="directory"):
        Checkpointer(tmp_path / "missing" / "c.npz")
    with pytest.raises(TypeError, match="cannot save"):
        write_checkpoint(tmp_path / "c.npz", {"f": object()}, 1, 0.0)
    assert chain_callbacks(None, None) is None
    only = Checkpointer(tmp_path / "c.npz")
    assert chain_callbacks(None, only) is only
