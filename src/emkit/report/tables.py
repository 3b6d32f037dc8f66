"""The report's tables as HTML: fitted parameters, convergence diagnostics, the
BIC/ICL grid of a model selection, and provenance.

Every value written into the page goes through :func:`html.escape`.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..engine import Step
from .frames import full_covariances

__all__ = ["number", "table", "mixture_tables", "hmm_tables", "other_tables",
           "diagnostics", "selection_grid", "definition_list"]

#: Covariance matrices are shown in full up to this many features (else the diagonal).
MATRIX_LIMIT = 8


def number(value: Any, digits: int = 5) -> str:
    """A float with ``digits`` significant digits; NaN and infinities spelled out."""
    v = float(value)
    if np.isnan(v):
        return "nan"
    if np.isinf(v):
        return "inf" if v > 0 else "-inf"
    return f"{v:.{digits}g}"


def table(header: Sequence[str], rows: Sequence[Sequence[str]], *, caption: str = "",
          css: str = "") -> str:
    """An HTML table; ``header`` and cells are text (escaped here)."""
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>"
                   for row in rows)
    cap = f"<caption>{html.escape(caption)}</caption>" if caption else ""
    cls = f' class="{html.escape(css)}"' if css else ""
    return f"<table{cls}>{cap}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _with_error(value: float, error: float | None) -> str:
    if error is None or not np.isfinite(error):
        return number(value)
    return f"{number(value)} ± {number(error, 2)}"


def _errors(standard_errors: Mapping[str, Any] | None, name: str, shape: tuple[int, ...]
            ) -> np.ndarray | None:
    if not standard_errors:
        return None
    for key in (name, f"{name}_"):
        if key in standard_errors:
            se = np.asarray(standard_errors[key], dtype=float)
            if se.shape != shape:
                raise ValueError(f"standard_errors[{key!r}]: shape {se.shape} does not match "
                                 f"the fitted {name}_ {shape}")
            return se
    return None


def mixture_tables(model: Any, names: Sequence[str],
                   standard_errors: Mapping[str, Any] | None = None) -> str:
    """Weights, means and covariances of a fitted Gaussian mixture (± standard errors)."""
    weights = np.asarray(model.weights_, dtype=float)
    means = np.atleast_2d(np.asarray(model.means_, dtype=float))
    k, d = means.shape
    kind = getattr(model, "covariance_type", None) or "full"
    cov = full_covariances(model.covariances_, kind, k, d)
    se_w = _errors(standard_errors, "weights", weights.shape)
    se_m = _errors(standard_errors, "means", means.shape)
    se_c = _errors(standard_errors, "covariances", np.shape(model.covariances_))
    if se_c is not None:
        se_c = full_covariances(se_c, kind, k, d)
    parts = [table(["component", "weight", *names],
                   [[str(j + 1), _with_error(weights[j], None if se_w is None else se_w[j]),
                     *(_with_error(means[j, i], None if se_m is None else se_m[j, i])
                       for i in range(d))] for j in range(k)],
                   caption="Weights and means" + (" (± bootstrap standard error)"
                                                  if standard_errors else ""),
                   css="params")]
    if d <= MATRIX_LIMIT:
        for j in range(k):
            rows = [[names[a], *(_with_error(cov[j, a, b], None if se_c is None
                                             else se_c[j, a, b]) for b in range(d))]
                    for a in range(d)]
            parts.append(table(["", *names], rows, caption=f"Covariance of component {j + 1} "
                               f"({kind})", css="params cov"))
    else:
        rows = [[str(j + 1), *(number(cov[j, i, i]) for i in range(d))] for j in range(k)]
        parts.append(table(["component", *names], rows, css="params cov",
                           caption=f"Variances (the diagonal of each covariance; {d} features "
                           f"are too many for full {d} x {d} matrices)"))
    return "\n".join(parts)


def hmm_tables(model: Any, names: Sequence[str]) -> str:
    """Start probabilities, the transition matrix and the state means of a fitted HMM."""
    start = np.asarray(model.startprob_, dtype=float)
    trans = np.asarray(model.transmat_, dtype=float)
    k = start.size
    parts = [table(["state", "start probability", *(f"to {j + 1}" for j in range(k))],
                   [[str(i + 1), number(start[i]), *(number(v) for v in trans[i])]
                    for i in range(k)], caption="Start and transition probabilities",
                   css="params")]
    means = getattr(model, "means_", None)
    if means is not None and np.ndim(means) == 2 and np.shape(means)[0] == k:
        means = np.asarray(means, dtype=float)
        rows = [[str(i + 1), *(number(v) for v in means[i])] for i in range(k)]
        covars = getattr(model, "covars_", None)
        if covars is not None and np.ndim(covars) == 3:
            sd = np.sqrt(np.clip(np.diagonal(np.asarray(covars, dtype=float), axis1=1,
                                             axis2=2), 0.0, None))
            rows = [[*r, *(number(v) for v in sd[i])] for i, r in enumerate(rows)]
            header = ["state", *(f"mean {n}" for n in names), *(f"sd {n}" for n in names)]
        else:
            header = ["state", *(f"mean {n}" for n in names[: means.shape[1]])]
        parts.append(table(header, rows, caption="State emissions", css="params"))
    else:
        emissions = getattr(model, "emissions_", None)
        if emissions is not None:
            rows = [[str(i + 1), html.unescape(repr(e))] for i, e in enumerate(emissions)]
            parts.append(table(["state", "emission"], rows, caption="State emissions",
                               css="params"))
    return "\n".join(parts)


def other_tables(model: Any, last: Step) -> str:
    """Models without Gaussian components: their weights and the last step's parameters."""
    from ..trace import format_params

    parts = []
    if hasattr(model, "weights_"):
        w = np.ravel(np.asarray(model.weights_, dtype=float))
        parts.append(table(["component", "weight"], [[str(j + 1), number(v)]
                                                     for j, v in enumerate(w)],
                           caption="Weights", css="params"))
    parts.append(f"<p class=\"params-text\">{html.escape(format_params(last.params))}</p>")
    return "\n".join(parts)


def diagnostics(model: Any, steps: Sequence[Step]) -> tuple[list[tuple[str, str]], list[str]]:
    """Convergence facts as (label, value) pairs, and the warnings they raise.

    Warnings: the fit did not converge; a plain EM step lowered the
    log-likelihood (beyond rounding); a component or state is nearly empty.
    """
    run = [s for s in steps if s.iteration > 0]
    last = steps[-1]
    converged = getattr(model, "converged_", None)
    if converged is None and hasattr(model, "monitor_"):
        converged = getattr(model.monitor_, "converged", None)
    facts: list[tuple[str, str]] = [
        ("converged", "unknown" if converged is None else ("yes" if converged else "no")),
        ("iterations", str(len(run))),
        ("E-steps", str(int(last.n_estep))),
        ("final log-likelihood", number(last.loglik, 10)),
    ]
    found: list[str] = []
    if run:
        facts.append(("last gain", f"{last.gain:+.3e}" if np.isfinite(last.gain) else "nan"))
        facts.append(("last max |Δθ|", f"{last.param_change:.3e}"
                      if np.isfinite(last.param_change) else "nan"))
        gains = np.array([s.gain for s in run if not s.accelerated], dtype=float)
        scale = max(1.0, abs(float(last.loglik)))
        drops = np.flatnonzero(gains < -1e-9 * scale) if gains.size else np.array([], int)
        facts.append(("smallest gain", f"{np.nanmin(gains):+.3e}" if gains.size else "n/a"))
        if drops.size:
            plain = [s for s in run if not s.accelerated]
            found.append(f"The log-likelihood fell in {drops.size} plain EM step(s) (first at "
                         f"iteration {plain[int(drops[0])].iteration}); EM should never "
                         "lower it, so the model or its numerics need a look.")
        accelerated = sum(s.accelerated for s in run)
        if accelerated:
            facts.append(("accelerated steps", f"{accelerated} (SQUAREM)"))
    if converged is False:
        found.append(f"EM stopped after {len(run)} iterations without meeting its tolerance; "
                     "raise max_iter (n_iter for HMMs) or loosen tol.")
    weights = getattr(model, "weights_", None)
    if weights is None and hasattr(model, "transmat_"):
        weights = None
    if weights is not None:
        w = np.ravel(np.asarray(weights, dtype=float))
        small = np.flatnonzero(w < 0.01)
        if small.size:
            found.append("Component(s) " + ", ".join(str(j + 1) for j in small) +
                         " hold less than 1 % of the weight; fewer components may do.")
    return facts, found


def definition_list(items: Sequence[tuple[str, str]], css: str = "facts") -> str:
    """A two-column table of (label, value) pairs."""
    rows = "".join(f"<tr><th>{html.escape(a)}</th><td>{html.escape(b)}</td></tr>"
                   for a, b in items)
    return f'<table class="{css}"><tbody>{rows}</tbody></table>'


def selection_grid(selection: Any, criterion: str = "bic") -> str:
    """The grid of a :func:`emkit.select_model` result: one row per component count,
    one column per covariance model; the best cell marked; failed fits as "—"."""
    frame = getattr(selection, "table", None)
    if frame is None or criterion not in getattr(frame, "columns", ()):
        raise ValueError(f"selection: expected a select_model result with a table holding "
                         f"{criterion!r}, got {type(selection).__name__}")
    models = list(dict.fromkeys(str(m) for m in frame["model"]))
    counts = sorted({int(k) for k in frame["n_components"]})
    cells: dict[tuple[str, int], tuple[float, str]] = {}
    for _, row in frame.iterrows():
        error = row.get("error")
        failed = isinstance(error, str) and bool(error)
        cells[(str(row["model"]), int(row["n_components"]))] = (
            float("nan") if failed else float(row[criterion]), error if failed else "")
    finite = [(v, key) for key, (v, _) in cells.items() if np.isfinite(v)]
    best = min(finite)[1] if finite else None
    head = "".join(f"<th>{html.escape(m)}</th>" for m in models)
    body = []
    for k in counts:
        tds = []
        for m in models:
            value, error = cells.get((m, k), (float("nan"), "not fitted"))
            if not np.isfinite(value):
                tds.append(f'<td class="failed" title="{html.escape(error)}">—</td>')
            else:
                mark = ' class="best"' if (m, k) == best else ""
                tds.append(f"<td{mark}>{html.escape(number(value, 7))}</td>")
        body.append(f"<tr><th>{k}</th>{''.join(tds)}</tr>")
    label = criterion.upper()
    caption = (f"{label} of each fit (lower is better); best: "
               f"{best[0]} with {best[1]} components" if best else f"{label}: every fit failed")
    return (f'<table class="grid" data-criterion="{criterion}"><caption>'
            f"{html.escape(caption)}</caption><thead><tr><th>K</th>{head}</tr></thead>"
            f"<tbody>{''.join(body)}</tbody></table>")
