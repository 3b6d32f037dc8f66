"""``emkit regress``: a mixture of regressions (Gaussian, Poisson or binomial) on a data file."""

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
    split_columns,
    watch_fit,
)
from ._outcome import (
    check_save_path,
    column_values,
    component_table,
    distinct_columns,
    fit_facts,
    print_fit_facts,
    save_model,
)

__all__ = ["regress", "register", "regression_summary", "print_regression_summary"]


class Family(str, Enum):
    gaussian = "gaussian"
    poisson = "poisson"
    binomial = "binomial"


def _check_response(family: str, name: str, y: np.ndarray, trials: tuple[str, np.ndarray] | None
                    ) -> None:
    """The response's values against the family, naming the column and a bad row."""

    def refuse(bad: np.ndarray, what: str) -> None:
        rows = np.flatnonzero(bad)
        if rows.size:
            i = int(rows[0])
            raise CLIError(f"--y column {name} {what} (data row {i + 1}: {y[i]:g}; "
                           f"{rows.size} row(s) in all)")

    if family == "poisson":
        refuse(y < 0, "has negative values; --family poisson needs counts 0, 1, 2, ...")
        refuse(y != np.floor(y), "has values that are not whole numbers; --family poisson "
                                 "needs counts 0, 1, 2, ...")
    elif family == "binomial" and trials is None:
        refuse((y != 0) & (y != 1), "holds values other than 0 and 1; --family binomial "
                                    "needs 0/1 outcomes, or successes with --trials COL")
    elif family == "binomial" and trials is not None:
        tname, m = trials
        refuse((y < 0) | (y != np.floor(y)), "holds values that are not whole numbers of "
                                             "successes 0, 1, 2, ...")
        bad = (m < 0) | (m != np.floor(m)) | (y > m)
        rows = np.flatnonzero(bad)
        if rows.size:
            i = int(rows[0])
            raise CLIError(f"--trials column {tname} must be a whole number of trials, at "
                           f"least the successes in --y (data row {i + 1}: {y[i]:g} successes "
                           f"of {m[i]:g} trials; {rows.size} row(s) in all)")


def regression_summary(model: Any, X: np.ndarray, y: np.ndarray, Z: np.ndarray | None,
                       columns: dict[str, Any], watch: Any) -> dict[str, Any]:
    """The facts ``emkit regress`` reports about a fitted :class:`emkit.RegressionMixture`.

    Keys: model, family, n_components, response, covariates, trials, concomitant,
    n_rows, weights, intercept, coef (K, n_covariates), scale (gaussian),
    concomitant_coef (K, n_concomitant + 1, with concomitant variables), loglik,
    mean_loglik, n_parameters, bic, aic, n_iter, converged, stop_reason.
    """
    loglik = float(model.score_samples(X, y, Z).sum())
    facts: dict[str, Any] = {
        "model": type(model).__name__,
        "family": model.family,
        "n_components": int(model.n_components),
        **columns,
        "n_rows": int(X.shape[0]),
        "weights": model.weights_,
        "intercept": model.intercept_,
        "coef": model.coef_,
    }
    if model.family == "gaussian":
        facts["scale"] = model.scale_
    if Z is not None:
        facts["concomitant_coef"] = model.concomitant_coef_
    facts.update(fit_facts(model, watch, loglik, X.shape[0], model.bic(X, y, Z),
                           model.aic(X, y, Z)))
    return facts


def print_regression_summary(facts: dict[str, Any], file: Any = None) -> None:
    """Print :func:`regression_summary` as a table, one column per component."""
    out = file or sys.stdout
    k = facts["n_components"]
    link = {"gaussian": "identity link", "poisson": "log link", "binomial": "logit link"}
    response = facts["response"] + (f" (successes of {facts['trials']} trials)"
                                    if facts["trials"] else "")
    print(f"Mixture of regressions: {k} component{'s' if k != 1 else ''}, {facts['family']} "
          f"({link[facts['family']]})", file=out)
    print(f"{facts['n_rows']} rows; response {response}; covariates "
          f"{', '.join(facts['covariates'])}", file=out)
    print(file=out)
    weight_label = "weight (mean)" if "concomitant_coef" in facts else "weight"
    rows: list[tuple[str, Any]] = [(weight_label, facts["weights"]),
                                   ("(intercept)", facts["intercept"])]
    coef = np.asarray(facts["coef"])
    rows += [(name, coef[:, j]) for j, name in enumerate(facts["covariates"])]
    if "scale" in facts:
        rows.append(("scale (sd)", facts["scale"]))
    print(component_table(rows, k), file=out)
    if "concomitant_coef" in facts:
        gamma = np.asarray(facts["concomitant_coef"])
        print(file=out)
        print("Mixing weights (multinomial logit; component 1 is the reference):", file=out)
        names = ["(intercept)", *facts["concomitant"]]
        print(component_table([(n, gamma[:, j]) for j, n in enumerate(names)], k), file=out)
    print(file=out)
    print_fit_facts(facts, file=out)


def regress(
    data: Annotated[str, typer.Argument(
        metavar="DATA", help="CSV, TSV, Parquet or NPY file, or - for stdin.")],
    y: Annotated[str, typer.Option("--y", metavar="COL", help="The response column.")],
    x: Annotated[list[str], typer.Option(
        "--x", metavar="COLS", help="Covariate columns, comma-separated or repeated.")],
    k: Annotated[int, typer.Option("--k", "-k", min=1, help="Number of components.")] = 2,
    family: Annotated[Family, typer.Option(
        "--family", help="The response's distribution.")] = Family.gaussian,
    trials: Annotated[str | None, typer.Option(
        "--trials", metavar="COL",
        help="Binomial: the number of trials per row (--y holds the successes).")] = None,
    concomitant: Annotated[list[str] | None, typer.Option(
        "--concomitant", metavar="COLS",
        help="Columns the mixing weights depend on (a multinomial logit).")] = None,
    json_: JsonOption = False,
    save: SaveOption = None,
    quiet: QuietOption = False,
    max_iter: MaxIterOption = 100,
    tol: TolOption = 1e-3,
    n_init: NInitOption = 1,
    seed: SeedOption = 0,
    accelerate: AccelerateOption = None,
) -> int:
    """Fit a mixture of K regressions of the --y column on the --x columns."""
    from .. import RegressionMixture

    covariates = split_columns(x) or []
    if not covariates:
        raise typer.BadParameter("name at least one covariate column", param_hint="--x")
    mixing = split_columns(concomitant) or []
    if trials is not None and family is not Family.binomial:
        raise typer.BadParameter("--trials goes with --family binomial only",
                                 param_hint="--trials")
    named = [y, *covariates, *([trials] if trials else []), *mixing]
    distinct_columns([y, *covariates, *([trials] if trials else [])], "--y, --x and --trials")
    distinct_columns(mixing, "--concomitant")
    check_save_path(save)

    values = column_values(data, list(dict.fromkeys(named)))
    X = np.column_stack([values[c] for c in covariates])
    response = values[y]
    _check_response(family.value, y, response, (trials, values[trials]) if trials else None)
    Y: np.ndarray = (np.column_stack([response, values[trials] - response]) if trials
                     else response)
    Z = np.column_stack([values[c] for c in mixing]) if mixing else None

    model = RegressionMixture(
        k, family=family.value, max_iter=max_iter, tol=tol, n_init=n_init, random_state=seed,
        accelerate=accelerate.value if accelerate is not None else None)
    with watch_fit(quiet=quiet, total=max_iter, label="EM") as watch:
        model.fit(X, Y, concomitant=Z)
    columns = {"response": y, "covariates": covariates, "trials": trials,
               "concomitant": mixing or None}
    facts = regression_summary(model, X, Y, Z, columns, watch)
    facts["saved"] = save_model(model, save, watch, quiet)
    if json_:
        print_json(facts)
    else:
        print_regression_summary(facts)
        if facts["saved"]:
            print(f"Model saved to: {facts['saved']}")
    return EXIT_INTERRUPTED if watch.interrupted else EXIT_OK


def register(app: typer.Typer) -> None:
    from ._command import add_command

    add_command(app, "regress", regress)
