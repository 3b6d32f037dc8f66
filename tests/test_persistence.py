"""Model files: round trips, and refusal of damaged, edited or malicious files."""

from __future__ import annotations

import io
import json
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import emkit
from emkit.exceptions import ModelFileError
from emkit.persistence import FORMAT_VERSION, Persistable, _checksum


class Dummy(Persistable):
    """A small estimator-like object: constructor params plus fitted attributes."""

    def __init__(self, alpha: float = 1.0, name: str = "d", sizes: tuple = (1, 2)):
        self.alpha = alpha
        self.name = name
        self.sizes = sizes

    def get_params(self, deep: bool = False) -> dict:
        return {"alpha": self.alpha, "name": self.name, "sizes": self.sizes}


class MakesMarker:
    """Unpickling this creates the marker file: stands for code a stranger runs."""

    def __init__(self, marker: Path):
        self.marker = Path(marker)

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def fitted_dummy() -> Dummy:
    d = Dummy(alpha=0.5, name="x", sizes=(3, 4))
    d.coef_ = np.arange(6.0).reshape(2, 3)
    d.labels_ = np.array([0, 1, 1], dtype=np.int64)
    d.n_iter_ = 7
    d.score_ = float("-inf")
    d.names_ = np.array(["a", "b"], dtype=object)
    d.extra_ = {"nested": [1.5, np.float64(2.5)], "flag": True, "none": None}
    d._private = "not saved"
    return d


def rewrite(path: Path, edit) -> None:
    """Rewrite a model file after ``edit(meta, arrays)`` (optionally fixing the checksum)."""
    with np.load(path, allow_pickle=False) as archive:
        arrays = {k: archive[k] for k in archive.files}
    meta = json.loads(arrays.pop("__meta__").tobytes().decode())
    edit(meta, arrays)
    payload = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    with open(path, "wb") as fh:
        np.savez(fh, __meta__=payload, **arrays)


# ------------------------------------------------------------------ round trips

def test_dummy_round_trip(tmp_path):
    d = fitted_dummy()
    path = d.save(tmp_path / "d.emkit")
    back = emkit.load(path)
    assert type(back) is Dummy
    assert (back.alpha, back.name, back.sizes) == (0.5, "x", (3, 4))
    np.testing.assert_array_equal(back.coef_, d.coef_)
    assert back.labels_.dtype == np.int64
    assert back.n_iter_ == 7 and back.score_ == float("-inf")
    assert back.names_.dtype == object and list(back.names_) == ["a", "b"]
    assert back.extra_ == {"nested": [1.5, 2.5], "flag": True, "none": None}
    assert not hasattr(back, "_private")


def test_gaussian_mixture_round_trip(tmp_path):
    data = emkit.datasets.load_faithful()
    model = emkit.GaussianMixture(n_components=2, random_state=0).fit(data)
    back = emkit.load(model.save(tmp_path / "gm.emkit"))
    assert type(back) is emkit.GaussianMixture
    assert back.get_params() == model.get_params()
    for name in ("weights_", "means_", "covariances_", "precisions_cholesky_"):
        np.testing.assert_array_equal(getattr(back, name), getattr(model, name))
    assert list(back.feature_names_in_) == ["eruptions", "waiting"]
    np.testing.assert_array_equal(back.predict(data), model.predict(data))
    assert back.score(data) == pytest.approx(model.score(data), rel=1e-15)


@pytest.mark.parametrize("dtype", [np.float32, np.dtype("float32"), "float32"])
def test_dtype_given_as_numpy_type_round_trips(tmp_path, dtype):
    X = np.random.default_rng(0).standard_normal((200, 2))
    model = emkit.GaussianMixture(n_components=2, dtype=dtype, random_state=0).fit(X)
    back = emkit.load(model.save(tmp_path / "gm.emkit"))
    assert np.dtype(back.dtype) == np.float32
    np.testing.assert_array_equal(back.predict(X), model.predict(X))


def test_unfitted_and_nan_values_round_trip(tmp_path):
    d = Dummy(alpha=float("nan"))
    back = emkit.load(d.save(tmp_path / "u.emkit"))
    assert np.isnan(back.alpha)


def test_save_refuses_object_arrays(tmp_path):
    d = Dummy()
    d.bad_ = np.array([{"a": 1}], dtype=object)
    with pytest.raises(TypeError, match="object array"):
        d.save(tmp_path / "bad.emkit")


# ----------------------------------------------------------- damaged or edited

def test_missing_file_and_directory(tmp_path):
    with pytest.raises(ModelFileError, match="no model file"):
        emkit.load(tmp_path / "none.emkit")
    with pytest.raises(ModelFileError, match="directory"):
        emkit.load(tmp_path)


@pytest.mark.parametrize("content", [b"", b"garbage, not a model\n", b"PK\x03\x04" + b"\0" * 40,
                                     b"\x93NUMPY\x01\x00"])
def test_garbage_refused(tmp_path, content):
    path = tmp_path / "g.emkit"
    path.write_bytes(content)
    with pytest.raises(ModelFileError, match="not an emkit model file"):
        emkit.load(path)


@pytest.mark.parametrize("keep", [0.25, 0.5, 0.9, 0.99])
def test_truncated_refused(tmp_path, keep):
    path = fitted_dummy().save(tmp_path / "t.emkit")
    raw = path.read_bytes()
    path.write_bytes(raw[: int(len(raw) * keep)])
    with pytest.raises(ModelFileError):
        emkit.load(path)


def test_wrong_version_refused(tmp_path):
    path = fitted_dummy().save(tmp_path / "v.emkit")

    def edit(meta, arrays):
        meta["version"] = FORMAT_VERSION + 1
        meta["checksum"] = _checksum(meta, arrays)

    rewrite(path, edit)
    with pytest.raises(ModelFileError, match=f"version {FORMAT_VERSION + 1}"):
        emkit.load(path)


def test_other_format_refused(tmp_path):
    path = fitted_dummy().save(tmp_path / "f.emkit")
    rewrite(path, lambda meta, arrays: meta.update(format="something-else"))
    with pytest.raises(ModelFileError, match="format 'something-else'"):
        emkit.load(path)


def test_tampered_array_fails_checksum(tmp_path):
    path = fitted_dummy().save(tmp_path / "a.emkit")

    def edit(meta, arrays):
        key = next(k for k in arrays if k.endswith("coef_"))
        arrays[key] = arrays[key] + 1.0

    rewrite(path, edit)
    with pytest.raises(ModelFileError, match="checksum"):
        emkit.load(path)


def test_tampered_metadata_fails_checksum(tmp_path):
    path = fitted_dummy().save(tmp_path / "m.emkit")

    def edit(meta, arrays):
        meta["model"]["params"]["__dict__"]["alpha"] = 99.0

    rewrite(path, edit)
    with pytest.raises(ModelFileError, match="checksum"):
        emkit.load(path)


def test_tampered_byte_refused(tmp_path):
    path = fitted_dummy().save(tmp_path / "b.emkit")
    raw = bytearray(path.read_bytes())
    # flip a byte inside the coef_ array's data (found by its float bytes)
    at = bytes(raw).index(np.arange(6.0).tobytes())
    raw[at + 9] ^= 0xFF
    path.write_bytes(bytes(raw))
    with pytest.raises(ModelFileError):
        emkit.load(path)


def test_unknown_class_refused(tmp_path):
    path = fitted_dummy().save(tmp_path / "c.emkit")

    def edit(meta, arrays):
        meta["model"]["__object__"] = "os.system"
        meta["checksum"] = _checksum(meta, arrays)

    rewrite(path, edit)
    with pytest.raises(ModelFileError, match=r"unknown model class 'os\.system'"):
        emkit.load(path)


def test_dunder_state_refused(tmp_path):
    path = fitted_dummy().save(tmp_path / "s.emkit")

    def edit(meta, arrays):
        meta["model"]["fitted"]["__dict__"]["__class__"] = "x"
        meta["checksum"] = _checksum(meta, arrays)

    rewrite(path, edit)
    with pytest.raises(ModelFileError, match="malformed"):
        emkit.load(path)


def test_deeply_nested_metadata_refused(tmp_path):
    path = fitted_dummy().save(tmp_path / "n.emkit")

    def edit(meta, arrays):
        value: list = []
        for _ in range(100_000):
            value = [value]
        meta["model"]["fitted"]["__dict__"]["deep_"] = value

    with pytest.raises(RecursionError):
        rewrite(path, edit)  # json itself cannot write it; write the bytes by hand
    meta_bytes = b'{"format": "emkit-model", "version": 1, "model": ' + b"[" * 100_000
    buffer = io.BytesIO()
    np.savez(buffer, __meta__=np.frombuffer(meta_bytes + b"]" * 100_000 + b"}", np.uint8))
    path.write_bytes(buffer.getvalue())
    with pytest.raises(ModelFileError):
        emkit.load(path)


def test_oversized_header_refused(tmp_path):
    """A header declaring a huge array is refused before anything is allocated."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        header = io.BytesIO()
        np.lib.format.write_array_header_1_0(
            header, {"descr": "<f8", "fortran_order": False, "shape": (10**12,)})
        archive.writestr("__meta__.npy", header.getvalue() + b"\0" * 64)
    path = tmp_path / "huge.emkit"
    path.write_bytes(buffer.getvalue())
    with pytest.raises(ModelFileError, match="truncated"):
        emkit.load(path)


def test_compressed_archive_refused(tmp_path):
    path = tmp_path / "z.emkit"
    np.savez_compressed(path.with_suffix(".npz"), __meta__=np.zeros(3, np.uint8))
    path.write_bytes(path.with_suffix(".npz").read_bytes())
    with pytest.raises(ModelFileError, match="compressed"):
        emkit.load(path)


# --------------------------------------------------------- crafted to run code

def test_marker_payload_runs_when_unpickled(tmp_path):
    """Control: the payload used below does run code when unpickled."""
    marker = tmp_path / "ran"
    pickle.loads(pickle.dumps(MakesMarker(marker)))
    assert marker.exists()


def test_npz_with_pickled_object_array_refused_without_running(tmp_path):
    marker = tmp_path / "ran"
    payload = np.empty(1, dtype=object)
    payload[0] = MakesMarker(marker)
    path = tmp_path / "evil.emkit"
    with open(path, "wb") as fh:
        np.savez(fh, __meta__=payload, coef=payload)  # savez pickles object arrays
    with pytest.raises(ModelFileError, match="pickled"):
        emkit.load(path)
    assert not marker.exists()


def test_npz_with_valid_metadata_and_pickled_member_refused(tmp_path):
    marker = tmp_path / "ran"
    good = fitted_dummy().save(tmp_path / "good.emkit")
    with np.load(good, allow_pickle=False) as archive:
        arrays = {k: archive[k] for k in archive.files}
    payload = np.empty(1, dtype=object)
    payload[0] = MakesMarker(marker)
    path = tmp_path / "evil2.emkit"
    with open(path, "wb") as fh:
        np.savez(fh, **arrays, extra=payload)
    with pytest.raises(ModelFileError, match="pickled"):
        emkit.load(path)
    assert not marker.exists()


def test_raw_pickle_file_refused_without_running(tmp_path):
    marker = tmp_path / "ran"
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps(MakesMarker(marker)))
    with pytest.raises(ModelFileError, match="not an emkit model file"):
        emkit.load(path)
    assert not marker.exists()


def test_pickled_npy_file_refused_without_running(tmp_path):
    marker = tmp_path / "ran"
    payload = np.empty(1, dtype=object)
    payload[0] = MakesMarker(marker)
    path = tmp_path / "evil.npy"
    np.save(path, payload, allow_pickle=True)
    with pytest.raises(ModelFileError):
        emkit.load(path)
    assert not marker.exists()


def test_cli_predict_refuses_malicious_model(tmp_path, capsys):
    from emkit.cli import main

    marker = tmp_path / "ran"
    path = tmp_path / "evil.emkit"
    path.write_bytes(pickle.dumps(MakesMarker(marker)))
    data = tmp_path / "x.csv"
    pd.DataFrame({"a": [1.0, 2.0]}).to_csv(data, index=False)
    assert main(["predict", str(path), str(data)]) == 1
    assert "not an emkit model file" in capsys.readouterr().err
    assert not marker.exists()


def write_raw(path: Path, meta, arrays=None, *, fix_checksum: bool = True) -> Path:
    """Write a model file with arbitrary metadata (a valid checksum by default)."""
    arrays = dict(arrays or {})
    if isinstance(meta, dict) and fix_checksum:
        meta = {**meta, "checksum": _checksum(meta, arrays)}
    payload = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    with open(path, "wb") as fh:
        np.savez(fh, __meta__=payload, **arrays)
    return path


def meta_for(model) -> dict:
    return {"format": "emkit-model", "version": FORMAT_VERSION, "model": model}


@pytest.mark.parametrize(("model", "fragment"), [
    ({"__strings__": [1, 2]}, "malformed list of strings"),
    ({"__what__": 1}, "unknown kind"),
    ({"__object__": "Dummy", "params": {"__dict__": {"nope": 1}}, "fitted": {"__dict__": {}}},
     "could not be rebuilt"),
    ({"__object__": "Dummy", "params": {"__dict__": {}}, "fitted": [1]}, "malformed"),
    ({"__array__": "missing"}, "could not be rebuilt"),
    ({"__dtype__": "|O"}, "malformed numeric dtype"),
    ({"__dtype__": "no such type"}, "malformed numeric dtype"),
])
def test_crafted_metadata_refused(tmp_path, model, fragment):
    path = write_raw(tmp_path / "c.emkit", meta_for(model))
    with pytest.raises(ModelFileError, match=fragment):
        emkit.load(path)


def test_metadata_must_be_an_object(tmp_path):
    path = write_raw(tmp_path / "l.emkit", [1, 2, 3])
    with pytest.raises(ModelFileError, match="corrupt metadata"):
        emkit.load(path)
    buffer = io.BytesIO()
    np.savez(buffer, other=np.zeros(2))
    (tmp_path / "n.emkit").write_bytes(buffer.getvalue())
    with pytest.raises(ModelFileError, match="no metadata"):
        emkit.load(tmp_path / "n.emkit")


def test_npy_version_2_members_are_read(tmp_path):
    d = fitted_dummy()
    path = d.save(tmp_path / "v2.emkit")
    with np.load(path, allow_pickle=False) as archive:
        arrays = {k: archive[k] for k in archive.files}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as out:
        for name, array in arrays.items():
            member = io.BytesIO()
            np.lib.format.write_array(member, array, version=(2, 0))
            out.writestr(name + ".npy", member.getvalue())
    path.write_bytes(buffer.getvalue())
    np.testing.assert_array_equal(emkit.load(path).coef_, d.coef_)


def test_values_that_cannot_be_saved(tmp_path):
    d = Dummy()
    d.table_ = {1: "a"}
    with pytest.raises(TypeError, match="non-string keys"):
        d.save(tmp_path / "k.emkit")
    d = Dummy()
    d.rng_ = np.random.default_rng(0)  # a generator is not a model parameter: kept as None
    assert emkit.load(d.save(tmp_path / "r.emkit")).rng_ is None
    d.fn_ = print
    with pytest.raises(TypeError, match="builtin_function_or_method"):
        d.save(tmp_path / "f.emkit")


def _estimator_cases():
    from emkit.distributions import Poisson

    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(0, 1, (60, 2)), rng.normal(4, 1, (60, 2))])
    counts = rng.poisson(3.0, (100, 1)).astype(float)
    symbols = rng.integers(0, 3, (80, 1))
    ratings = rng.integers(0, 2, (40, 3)).astype(float)
    holes = np.where(rng.random(X.shape) < 0.1, np.nan, X)
    return {
        "GaussianMixture": (lambda: emkit.GaussianMixture(2, random_state=0).fit(X), X),
        "MixtureModel": (lambda: emkit.MixtureModel(Poisson(), 2, random_state=0).fit(counts),
                         counts),
        "EMImputer": (lambda: emkit.EMImputer().fit(holes), holes),
        "GaussianHMM": (lambda: emkit.GaussianHMM(2, random_state=0).fit(X), X),
        "GMMHMM": (lambda: emkit.GMMHMM(2, n_mix=2, n_iter=100, random_state=0).fit(X), X),
        "CategoricalHMM": (lambda: emkit.CategoricalHMM(2, n_iter=200, random_state=0)
                           .fit(symbols), symbols),
        "PoissonHMM": (lambda: emkit.PoissonHMM(2, n_iter=200, random_state=0).fit(counts),
                       counts),
        "DawidSkene": (lambda: emkit.DawidSkene().fit(ratings), ratings),
        "select_model": (lambda: emkit.select_model(
            X, n_components=[1, 2], covariance_models=["VVV", "EII"], random_state=0).best, X),
    }


@pytest.mark.parametrize("name", list(_estimator_cases()))
def test_every_estimator_round_trips(tmp_path, name):
    """model.save / emkit.load for every public estimator: same class, same answers."""
    make, data = _estimator_cases()[name]
    model = make()
    back = emkit.load(model.save(tmp_path / f"{name}.emkit"))
    assert type(back) is type(model)
    methods = [m for m in ("predict", "score", "transform") if hasattr(model, m)]
    assert methods
    for method in methods:
        np.testing.assert_array_equal(getattr(back, method)(data), getattr(model, method)(data))
