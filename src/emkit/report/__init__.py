"""A self-contained HTML report of an EM fit, step by step.

:func:`write_html` writes one page that works offline (style, script and data
inline, nothing fetched): a step explorer (a slider and a play button over the
EM iterations, the clusters and their covariance ellipses, or an HMM's states,
moving, with the log-likelihood curve and the current step marked), the fitted
parameters, the BIC/ICL grid of a model selection, convergence diagnostics and
warnings, and provenance (data hash, emkit version, the command).
``emkit report DATA -k K -o report.html`` is the command-line form.

Modules: ``frames`` (the data and per-step frames the page draws; subsampling),
``tables`` (parameter, diagnostics, selection and provenance tables), ``script``
(the page's JavaScript and CSS), ``html`` (assembly and the atomic write).

Layers: NumPy, :mod:`emkit.engine`'s records, :mod:`emkit.trace`,
:mod:`emkit.gaussian`'s reference densities (the label of each drawn point) and
:mod:`emkit.atomic`; estimators are read by duck typing, never imported.
"""

from .html import build_html, data_sha256, write_html

__all__ = ["write_html", "build_html", "data_sha256"]
