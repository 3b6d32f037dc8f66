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
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

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
        with open(path, "wb") as fh:
            np.savez(fh, __meta__=payload, **arrays)
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
            raise TypeError(f"cannot save an object array at {key}")
        arrays[key] = value
        return {"__array__": key}
    if isinstance(value, np.generic):
        return value.item()
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
    if "__tuple__" in value:
        return tuple(_decode(v, arrays) for v in value["__tuple__"])
    if "__dict__" in value:
        return {k: _decode(v, arrays) for k, v in value["__dict__"].items()}
    if "__object__" in value:
        name = value["__object__"]
        cls = _REGISTRY.get(name)
        if cls is None:
            raise ModelFileError(f"the file names an unknown model class {name!r}")
        obj = cls(**_decode(value["params"], arrays))
        obj._set_state(_decode(value["fitted"], arrays))
        return obj
    raise ModelFileError("the file's metadata has an entry of unknown kind")


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


def _read_archive(path: Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ModelFileError(f"no model file at {path}") from None
    except IsADirectoryError:
        raise ModelFileError(f"{path} is a directory, not a model file") from None
    try:
        with np.load(io.BytesIO(raw), allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, KeyError) as exc:
        raise ModelFileError(
            f"{path} is not an emkit model file (unreadable archive: {exc})"
        ) from None
    if "__meta__" not in arrays:
        raise ModelFileError(f"{path} is not an emkit model file (no metadata)")
    try:
        meta = json.loads(arrays.pop("__meta__").astype(np.uint8).tobytes().decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise ModelFileError(f"{path} has corrupt metadata: {exc}") from None
    if not isinstance(meta, dict):
        raise ModelFileError(f"{path} has corrupt metadata")
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
    meta, arrays = _read_archive(path)
    if meta.get("format") != FORMAT_NAME:
        raise ModelFileError(f"{path} is not an emkit model file (format {meta.get('format')!r})")
    if meta.get("version") != FORMAT_VERSION:
        raise ModelFileError(
            f"{path} uses model-file version {meta.get('version')!r}; this emkit reads "
            f"version {FORMAT_VERSION} (re-save it with a matching emkit)"
        )
    if meta.get("checksum") != _checksum(meta, arrays):
        raise ModelFileError(f"{path} failed its checksum: the file was modified or damaged")
    try:
        return _decode(meta["model"], arrays)
    except ModelFileError:
        raise
    except (TypeError, KeyError, ValueError) as exc:
        raise ModelFileError(f"{path} could not be rebuilt into a model: {exc}") from None
