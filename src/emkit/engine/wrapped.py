"""The base of an EM model built around another one.

One job: a model that changes some steps of the model it wraps (``self.model``)
-- a constrained M-step, a frozen block, an E-step on a piece of the data --
forwards everything else to it: the E-step and every attribute it does not
define itself (``is_feasible``, ``monotone_rtol``, ``n_parameters``, ...), so it
can stand wherever the wrapped model stands (the engine, SQUAREM, the chunked
and Dask backends).
"""

from __future__ import annotations

from typing import Any

__all__ = ["ModelWrapper"]


class ModelWrapper:
    """Forward the E-step and unknown attributes to ``self.model``.

    Subclasses set ``self.model`` in ``__init__`` and override the steps they change.
    """

    model: Any

    def __getattr__(self, name: str) -> Any:
        # only called for names not found normally; ``model`` itself missing (e.g.
        # while unpickling, before ``__init__`` ran) must not recurse
        if name == "model":
            raise AttributeError(name)
        return getattr(self.model, name)

    def e_step(self, data: Any, params: dict) -> tuple[Any, float]:
        """The wrapped model's E-step: (additive statistics, log-likelihood)."""
        return self.model.e_step(data, params)
