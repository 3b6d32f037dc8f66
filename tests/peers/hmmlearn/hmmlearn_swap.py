"""Point one of hmmlearn's test modules at emkit's HMM classes."""

from __future__ import annotations

import importlib
from types import ModuleType, SimpleNamespace

import emkit

#: stands in for ``hmmlearn.hmm`` inside the test modules
HMM_NAMESPACE = SimpleNamespace(
    GaussianHMM=emkit.GaussianHMM,
    GMMHMM=emkit.GMMHMM,
    CategoricalHMM=emkit.CategoricalHMM,
    PoissonHMM=emkit.PoissonHMM,
    MultinomialHMM=emkit.MultinomialHMM,
)


def peer_module(name: str, **replace: object) -> ModuleType:
    """hmmlearn's ``hmmlearn.tests.<name>`` with its ``hmm`` (and ``replace``'s) globals
    replaced by emkit's."""
    module = importlib.import_module(f"hmmlearn.tests.{name}")
    if hasattr(module, "hmm"):
        module.hmm = HMM_NAMESPACE
    for key, value in replace.items():
        if not hasattr(module, key):
            raise AttributeError(f"hmmlearn.tests.{name} has no {key!r} to replace")
        setattr(module, key, value)
    return module
