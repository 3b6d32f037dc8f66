"""``emkit survival``: a mixture of survival distributions for right-censored times."""

from __future__ import annotations

import sys
from enum import Enum
from typing import Annotated, Any

import numpy as np
import typer

from . import CLIError
from ._common import (
    EXIT_INTERRUPTED,
    EXIT_OK,
    AccelerateOption,
    JsonOption,
    MaxIterOption,
    NInitOption,
    QuietOption,
    SaveOption,
    SeedOption,
    TolOption,
    print_json,
    watch_fit,
)
from ._outcome import (
    check_save_path,
    column_values,
    component_table,
    distinct_columns,
    fit_facts,
    number,
    print_fit_facts,
    save_model,
)

__all__ = ["survival", "register", "survival_summary", "print_survival_summary",
           "component_medians"]

#: Each family's fitted attributes (without the trailing underscore) and their labels.
PARAMETER_LABELS: dict[str, tuple[tuple[str, str], ...]] = {
    "exponential": (("rate", "rate"),),
    "weibull": (("shape", "shape"), ("scale", "scale")),
    "lognormal": (("meanlog", "meanlog"), ("sdlog", "sdlog")),
}
_TITLE = {"exponential": "exponential", "weibull": "Weibull", "lognormal": "log-normal"}


class Distribution(str, Enum):
    exponential = "exponential"
    weibull = "weibull"
    lognormal = "lognormal"


def component_medians(model: Any) -> np.ndarray:
    """Each component's median failure time, ``S_k(t) = 1/2``, shape (n_components,)."""
    if model.distribution == "exponential":
        return np.log(2.0) / np.asarray(model.rate_)
    if model.distribution == "weibull":
        return np.asarray(model.scale_) * np.log(2.0) ** (1.0 / np.asarray(model.shape_))
    return np.exp(np.asarray(model.meanlog_))


def _check_times(time_name: str, t: np.ndarray, event_name: str, d: np.ndarray) -> None:
    bad = np.flatnonzero(~(t > 0))
    if bad.size:
        i = int(bad[0])
        raise CLIError(f"--time column {time_name} must be strictly positive (data row {i + 1}: "
                       f"{t[i]:g}; {bad.size} row(s) in all)")
    bad = np.flatnonzero((d != 0) & (d != 1))
    if bad.size:
        i = int(bad[0])
        raise CLIError(f"--event column {event_name} must hold 1 (failure observed) or 0 "
                       f"(censored) (data row {i + 1}: {d[i]:g}; {bad.size} row(s) in all)")
    if not np.any(d == 1):
        raise CLIError(f"--event column {event_name} has no observed failure (every row is "
                       "censored): nothing to fit")


def survival_summary(model: Any, t: np.ndarray, d: np.ndarray, columns: dict[str, str],
                     watch: Any) -> dict[str, Any]:
    """The facts ``emkit survival`` reports about a fitted :class:`emkit.SurvivalMixture`.

    Keys: model, distribution, n_components, cure, time, event, n_rows, n_events,
    weights, the family's parameters (rate; shape, scale; meanlog, sdlog),
    cure_fraction (with a cure fraction), component_median_survival,
    median_survival (of the mixture; null when it never falls to 1/2), loglik,
    mean_loglik, n_parameters, bic, aic, n_iter, converged, stop_reason.
    """
    loglik = float(model.score_samples(t, d).sum())
    facts: dict[str, Any] = {
        "model": type(model).__name__,
        "distribution": model.distribution,
        "n_components": int(model.n_components),
        "cure": bool(model.cure),
        **columns,
        "n_rows": int(t.size),
        "n_events": int(d.sum()),
        "weights": model.weights_,
    }
    for name, _ in PARAMETER_LABELS[model.distribution]:
        facts[name] = getattr(model, name + "_")
    if model.cure:
        facts["cure_fraction"] = float(model.cure_fraction_)
    facts["component_median_survival"] = component_medians(model)
    facts["median_survival"] = float(model.median_survival_)
    facts.update(fit_facts(model, watch, loglik, t.size, model.bic(t, d), model.aic(t, d)))
    return facts


def print_survival_summary(facts: dict[str, Any], file: Any = None) -> None:
    """Print :func:`survival_summary` as a table, one column per component."""
    out = file or sys.stdout
    k, n, events = facts["n_components"], facts["n_rows"], facts["n_events"]
    cure = ", with a cure fraction" if facts["cure"] else ""
    print(f"Survival mixture: {k} {_TITLE[facts['distribution']]} "
          f"component{'s' if k != 1 else ''}{cure}", file=out)
    print(f"{n} rows ({events} failures, {n - events} censored); time {facts['time']}, "
          f"event {facts['event']}", file=out)
    print(file=out)
    rows: list[tuple[str, Any]] = [("weight", facts["weights"])]
    rows += [(label, facts[name]) for name, label in PARAMETER_LABELS[facts["distribution"]]]
    rows.append(("median survival", facts["component_median_survival"]))
    print(component_table(rows, k), file=out)
    print(file=out)
    if facts["cure"]:
        print(f"Cure fraction (never fail): {number(facts['cure_fraction'])}", file=out)
    median = facts["median_survival"]
    shown = number(median) if np.isfinite(median) else \
        "never reached (the cure fraction is at least 1/2)"
    print(f"Median survival of the mixture: {shown}", file=out)
    print(file=out)
    print_fit_facts(facts, file=out)


def survival(
    data: Annotated[str, typer.Argument(
        metavar="DATA", help="CSV, TSV, Parquet or NPY file, or - for stdin.")],
    time: Annotated[str, typer.Option(
        "--time", metavar="COL", help="Failure or censoring times (> 0).")],
    event: Annotated[str, typer.Option(
        "--event", metavar="COL", help="1: the failure was observed; 0: censored.")],
    k: Annotated[int, typer.Option(
        "--k", "-k", min=1, help="Number of components that fail.")] = 1,
    distribution: Annotated[Distribution, typer.Option(
        "--distribution", help="The family of every component.")] = Distribution.weibull,
    cure: Annotated[bool, typer.Option(
        "--cure", help="Add a cure fraction: a component that never fails.")] = False,
    json_: JsonOption = False,
    save: SaveOption = None,
    quiet: QuietOption = False,
    max_iter: MaxIterOption = 100,
    tol: TolOption = 1e-3,
    n_init: NInitOption = 1,
    seed: SeedOption = 0,
    accelerate: AccelerateOption = None,
) -> int:
    """Fit a mixture of K survival distributions to right-censored times."""
    from .. import SurvivalMixture

    distinct_columns([time, event], "--time and --event")
    check_save_path(save)
    values = column_values(data, [time, event])
    t, d = values[time], values[event]
    _check_times(time, t, event, d)
    model = SurvivalMixture(
        distribution.value, k, cure=cure, max_iter=max_iter, tol=tol, n_init=n_init,
        random_state=seed, accelerate=accelerate.value if accelerate is not None else None)
    with watch_fit(quiet=quiet, total=max_iter, label="EM") as watch:
        model.fit(t, d)
    facts = survival_summary(model, t, d, {"time": time, "event": event}, watch)
    facts["saved"] = save_model(model, save, watch, quiet)
    if json_:
        print_json(facts)
    else:
        print_survival_summary(facts)
        if facts["saved"]:
            print(f"Model saved to: {facts['saved']}")
    return EXIT_INTERRUPTED if watch.interrupted else EXIT_OK


def register(app: typer.Typer) -> None:
    from ._command import add_command

    add_command(app, "survival", survival)
