"""Safe, versioned model files: ``model.save(path)`` and ``emkit.load(path)``.

The format
----------
A model file is a NumPy ``.npz`` archive (a zip of ``.npy`` arrays) holding

* ``__meta__``: a uint8 array with UTF-8 JSON: ``{"format": "emkit-model",
  "version": 1, "emkit_version": ..., "checksum": ..., "model": <object>}``;
* one array per numeric value of the model, referenced from the JSON as
  ``{"__array__": "<key>"}``.

An ``<object>`` is ``{"__object__": "<ClassName>", "params": {...}, "fitted": {...}}``:
the constructor arguments (``get_params(deep=False)``) and the fitted attributes
(public names ending in ``_``), each encoded the same way, recursively. Only
classes that registered themselves by inheriting :class:`Persistable` can be
named, and arrays are read with ``allow_pickle=False``, so loading a file never
imports a module by name or runs code from it. ``checksum`` is the SHA-256 of the
JSON (without the checksum) and of every array's bytes, so edited files are
refused.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from .atomic import atomic_write
from .exceptions import ModelFileError

__all__ = ["Persistable", "load", "FORMAT_NAME", "FORMAT_VERSION"]

FORMAT_NAME = "emkit-model"
FORMAT_VERSION = 1
_REGISTRY: dict[str, type] = {}
_SCALARS = (str, bool, int, float, type(None))


class Persistable:
    """Mixin giving an estimator ``save(path)``; subclasses become loadable by name.

    Subclasses whose fitted state holds values this module cannot encode
    (anything but arrays, numbers, strings, None, lists/tuples/dicts of those and
    other ``Persistable`` objects) override :meth:`_get_state` and
    :meth:`_set_state`.
    """

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        _REGISTRY[cls.__name__] = cls

    def _get_state(self) -> dict[str, Any]:
        """The fitted attributes to store (default: public names ending in ``_``)."""
        return {
            k: v for k, v in vars(self).items() if k.endswith("_") and not k.startswith("_")
        }

    def _set_state(self, state: dict[str, Any]) -> None:
        for key, value in state.items():
            setattr(self, key, value)

    def save(self, path: str | Path) -> Path:
        """Write this model to ``path`` in emkit's safe format (see :mod:`emkit.persistence`).

        The file is written atomically (:mod:`emkit.atomic`): an existing file at
        ``path`` is replaced only once the new one is complete.

        Returns
        -------
        pathlib.Path
            The path written.
        """
        path = Path(path)
        arrays: dict[str, np.ndarray] = {}
        model = _encode(self, arrays, "m")
        meta = {"format": FORMAT_NAME, "version": FORMAT_VERSION, "model": model}
        from . import __version__

        meta["emkit_version"] = __version__
        meta["checksum"] = _checksum(meta, arrays)
        payload = np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8)
        with atomic_write(path) as fh:
            # mypy matches **arrays against savez's allow_pickle: bool as well; the keys
            # are dotted paths ("m.f.means_"), never that name
            np.savez(fh, __meta__=payload, **arrays)  # type: ignore[arg-type]
        return path


def _params_of(obj: Any) -> dict[str, Any]:
    if hasattr(obj, "get_params"):
        return obj.get_params(deep=False)
    return {}


def _encode(value: Any, arrays: dict[str, np.ndarray], key: str) -> Any:
    if isinstance(value, Persistable):
        return {
            "__object__": type(value).__name__,
            "params": _encode(_params_of(value), arrays, key + ".p"),
            "fitted": _encode(value._get_state(), arrays, key + ".f"),
        }
    if isinstance(value, np.ndarray):
        if value.dtype.hasobject:
            # scikit-learn keeps column names (feature_names_in_) as an object array
            # of str: stored as JSON strings, never pickled.
            if value.ndim == 1 and all(isinstance(v, str) for v in value):
                return {"__strings__": [str(v) for v in value]}
            raise TypeError(f"cannot save an object array at {key}")
        arrays[key] = value
        return {"__array__": key}
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.dtype) or (isinstance(value, type) and issubclass(value, np.generic)):
        return {"__dtype__": np.dtype(value).str}  # e.g. GaussianMixture(dtype=np.float32)
    if isinstance(value, float) and not np.isfinite(value):
        return {"__float__": repr(value)}
    if isinstance(value, _SCALARS):
        return value
    if isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            raise TypeError(f"cannot save a dict with non-string keys at {key}")
        return {"__dict__": {k: _encode(v, arrays, f"{key}.{k}") for k, v in value.items()}}
    if isinstance(value, (list, tuple)):
        items = [_encode(v, arrays, f"{key}.{i}") for i, v in enumerate(value)]
        return {"__tuple__": items} if isinstance(value, tuple) else items
    if isinstance(value, (np.random.RandomState, np.random.Generator)):
        return None  # a generator's state is not a model parameter worth keeping
    raise TypeError(f"cannot save a value of type {type(value).__name__} at {key}")


def _decode(value: Any, arrays: dict[str, np.ndarray]) -> Any:
    if isinstance(value, list):
        return [_decode(v, arrays) for v in value]
    if not isinstance(value, dict):
        return value
    if "__array__" in value:
        return arrays[value["__array__"]]
    if "__float__" in value:
        return float(value["__float__"])
    if "__dtype__" in value:
        try:
            dtype = np.dtype(str(value["__dtype__"]))
        except TypeError:
            dtype = None
        if dtype is None or dtype.kind not in "biufc":
            raise ModelFileError("the file's metadata names a malformed numeric dtype")
        return dtype
    if "__strings__" in value:
        strings = value["__strings__"]
        if not (isinstance(strings, list) and all(isinstance(v, str) for v in strings)):
            raise ModelFileError("the file's metadata has a malformed list of strings")
        return np.array(strings, dtype=object)
    if "__tuple__" in value:
        return tuple(_decode(v, arrays) for v in value["__tuple__"])
    if "__dict__" in value:
        return {k: _decode(v, arrays) for k, v in value["__dict__"].items()}
    if "__object__" in value:
        name = value["__object__"]
        cls = _REGISTRY.get(name) or _import_known(name)
        if cls is None:
            raise ModelFileError(f"the file names an unknown model class {name!r}")
        obj = cls(**_decode(value["params"], arrays))
        state = _decode(value["fitted"], arrays)
        if not isinstance(state, dict) or not all(
            isinstance(k, str) and k.isidentifier() and not k.startswith("__") for k in state
        ):
            raise ModelFileError(f"the file's fitted state of {name} is malformed")
        obj._set_state(state)
        return obj
    raise ModelFileError("the file's metadata has an entry of unknown kind")


def _import_known(name: Any) -> type | None:
    """Register an emkit class that was not imported yet, by importing emkit's own module.

    Only emkit's public names (and :mod:`emkit.distributions`) are looked up, so a
    file can never make ``load`` import an arbitrary module.
    """
    import importlib

    from . import _LAZY

    modules = [_LAZY[name]] if isinstance(name, str) and name in _LAZY else []
    modules.append("emkit.distributions")
    for module in modules:
        try:
            importlib.import_module(module)
        except ImportError:
            continue
        if name in _REGISTRY:
            return _REGISTRY[name]
    return None


def _checksum(meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> str:
    digest = hashlib.sha256()
    body = {k: v for k, v in meta.items() if k != "checksum"}
    digest.update(json.dumps(body, sort_keys=True).encode("utf-8"))
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        digest.update(name.encode("utf-8"))
        digest.update(str(a.dtype).encode("ascii"))
        digest.update(repr(a.shape).encode("ascii"))
        digest.update(a.tobytes())
    return digest.hexdigest()


def _check_members(buffer: io.BytesIO, size: int) -> None:
    """Refuse, before NumPy reads them, members that are compressed, hold pickled
    objects or declare more data than the file holds (so a crafted header cannot
    make ``load`` allocate gigabytes)."""
    with zipfile.ZipFile(buffer) as archive:
        for info in archive.infolist():
            if info.compress_type != zipfile.ZIP_STORED or info.file_size > size:
                raise ModelFileError("it has compressed or oversized members; emkit "
                                     "writes plain .npz archives")
            with archive.open(info) as member:
                version = np.lib.format.read_magic(member)
                if version == (1, 0):
                    shape, _, dtype = np.lib.format.read_array_header_1_0(member)
                elif version == (2, 0):
                    shape, _, dtype = np.lib.format.read_array_header_2_0(member)
                else:
                    raise ModelFileError(f"member {info.filename} has .npy version {version}")
                if dtype.hasobject:
                    raise ModelFileError(
                        "it holds pickled Python objects, which emkit never loads "
                        "(unpickling a stranger's file can run code)"
                    )
                if math.prod(shape) * dtype.itemsize > info.file_size:
                    raise ModelFileError(f"member {info.filename} is truncated")
    buffer.seek(0)


def _read_archive(path: Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ModelFileError(f"no model file at {path}") from None
    except IsADirectoryError:
        raise ModelFileError(f"{path} is a directory, not a model file") from None
    except OSError as exc:
        raise ModelFileError(f"cannot read {path}: {exc.strerror or exc}") from None
    buffer = io.BytesIO(raw)
    if not zipfile.is_zipfile(buffer):
        what = "it is empty" if not raw else "not a .npz archive"
        raise ModelFileError(f"{path} is not an emkit model file ({what})")
    try:
        _check_members(buffer, len(raw))
        with np.load(buffer, allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
    except ModelFileError as exc:
        raise ModelFileError(f"{path} is not a valid emkit model file: {exc}") from None
    except Exception as exc:  # any failure to parse a stranger's bytes means a bad file
        reason = (str(exc).splitlines() or [type(exc).__name__])[0]
        raise ModelFileError(
            f"{path} is not an emkit model file or is damaged ({reason})"
        ) from None
    if "__meta__" not in arrays:
        raise ModelFileError(f"{path} is not an emkit model file (no metadata)")
    try:
        meta = json.loads(arrays.pop("__meta__").astype(np.uint8).tobytes().decode("utf-8"))
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise ModelFileError(f"{path} has corrupt metadata: {exc}") from None
    if not isinstance(meta, dict):
        raise ModelFileError(f"{path} has corrupt metadata")
    return meta, arrays


def read_verified(path: Path, format_name: str, version: int,
                  kind: str) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The metadata and arrays of an emkit archive, after every safety check.

    Shared by model files and checkpoints: the archive checks of
    :func:`_read_archive`, then the format name, the version and the checksum.
    ``kind`` names the file in messages (e.g. ``"model file"``).

    Raises
    ------
    ModelFileError
        With a one-line message saying what is wrong.
    """
    meta, arrays = _read_archive(path)
    if meta.get("format") != format_name:
        raise ModelFileError(f"{path} is not an emkit {kind} (format {meta.get('format')!r})")
    if meta.get("version") != version:
        raise ModelFileError(
            f"{path} uses {kind} version {meta.get('version')!r}; this emkit reads "
            f"version {version} (re-save it with a matching emkit)"
        )
    if meta.get("checksum") != _checksum(meta, arrays):
        raise ModelFileError(f"{path} failed its checksum: the file was modified or damaged")
    return meta, arrays


def load(path: str | Path) -> Any:
    """Load a model written by ``model.save(path)``.

    Parameters
    ----------
    path : str or pathlib.Path
        The model file.

    Returns
    -------
    estimator
        A fitted emkit estimator of the class that was saved.

    Raises
    ------
    ModelFileError
        (a ``ValueError``) when the file is missing, not an emkit model file,
        truncated, edited, of another format version, or names an unknown class.
    """
    path = Path(path)
    meta, arrays = read_verified(path, FORMAT_NAME, FORMAT_VERSION, "model file")
    try:
        return _decode(meta["model"], arrays)
    except ModelFileError:
        raise
    except (TypeError, KeyError, ValueError, AttributeError, RecursionError) as exc:
        raise ModelFileError(f"{path} could not be rebuilt into a model: {exc}") from None
