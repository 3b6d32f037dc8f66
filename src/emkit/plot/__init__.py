"""Figures of EM at work (matplotlib, imported only when a function is called).

* :func:`plot_loglik` - the log-likelihood per iteration of a run;
* :func:`plot_density_1d` - 1-D data with the fitted component densities;
* :func:`plot_clusters_2d` - 2-D data coloured by cluster, with 1σ and 2σ
  covariance ellipses;
* :func:`animate_fit` - a GIF, one frame per iteration, of the ellipses moving;
* :func:`plot_hmm_states` - a sequence with its decoded hidden states;
* ``plot_bic`` and the other selection figures are in
  :mod:`emkit.plot.selection`.

Mixture functions take either a fitted estimator (with ``weights_``, ``means_``,
``covariances_`` and ``covariance_type``) or a parameter dict ``{"weights",
"means", "covariances"}`` as found in ``emkit.Step.params``, with
``covariance_type=`` saying how the covariances are stored. Without a display
(no ``DISPLAY`` on Linux) the Agg backend is used, so figures can be saved on a
server.

Modules: ``common`` (pyplot, colours, the log-likelihood trace), ``mixture``,
``hmm`` and ``selection``. They import NumPy, pandas, :mod:`emkit.engine`'s
records and :mod:`emkit.gaussian`'s reference densities (to draw fitted
components); matplotlib only inside the functions; never a model or an estimator
(``tests/test_layers.py`` checks this).
"""

import importlib
from typing import Any

from .common import COLORS, plot_loglik
from .hmm import plot_hmm_states
from .mixture import (
    animate_fit,
    mixture_params,
    plot_clusters_2d,
    plot_density_1d,
    save_mixture_plots,
)

__all__ = [
    "COLORS",
    "plot_loglik",
    "plot_density_1d",
    "plot_clusters_2d",
    "animate_fit",
    "plot_hmm_states",
    "mixture_params",
    "save_mixture_plots",
    "plot_criterion",
    "plot_bic",
]


def __getattr__(name: str) -> Any:
    """The model-selection figures, imported on first use (they need pandas)."""
    if name in ("plot_criterion", "plot_bic"):
        return getattr(importlib.import_module("emkit.plot.selection"), name)
    raise AttributeError(f"module 'emkit.plot' has no attribute {name!r}")
