"""``emkit hmm``: fit a hidden Markov model to sequences in a table, choose its states, decode.

``emkit hmm fit sequences.csv --states 4 --sequence-column id`` groups the rows
by the ``id`` column (each group is one sequence, its rows in file order),
fits an HMM to the numeric columns (a :class:`~emkit.GaussianHMM` unless
``--emission`` names another family) and prints the parameters with AIC and
BIC. ``emkit hmm select`` fits one for every number of states in
``--n-components`` (:func:`emkit.select_hmm`) and prints the table.
``--save model.emkit`` keeps the model, with the column names, for
``emkit hmm decode model.emkit data.csv -o states.csv``. Empty cells are missing
entries for the emissions that take them (see :mod:`emkit.cli._hmm_table`);
``--weights COLUMN`` weights each sequence by that column. ``--duration
poisson|negative_binomial|nonparametric`` (with ``--max-duration``) fits an
:class:`~emkit.HSMM` instead, and ``--covariates a,b`` an
:class:`~emkit.InputDrivenHMM` whose transitions depend on those columns.
"""

from __future__ import annotations

import math
import sys
import warnings
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer

from ._common import (
    ColumnsOption,
    JsonOption,
    SeedOption,
    print_block,
    print_json,
    split_columns,
    warn,
)
from ._hmm_table import SequenceTable, kind_parameters, read_sequences, takes_missing
from ._hmm_table import criteria as fit_criteria

__all__ = ["hmm_app", "register", "fit", "select", "decode", "Emission", "build_hmm"]

hmm_app = typer.Typer(name="hmm", no_args_is_help=True,
                      help="Hidden Markov models: fit sequences, choose the number of "
                      "states, decode hidden states.")

SequenceOption = Annotated[str | None, typer.Option(
    "--sequence-column", "-s", metavar="NAME",
    help="Column naming the sequence of each row (default: all rows are one sequence).")]


class Emission(str, Enum):
    """What each state emits: an hmmlearn-named HMM or an emkit.distributions family."""

    gaussian = "gaussian"
    gmm = "gmm"
    categorical = "categorical"
    poisson = "poisson"
    multinomial = "multinomial"
    exponential = "exponential"
    gamma = "gamma"
    lognormal = "lognormal"
    student_t = "student-t"
    bernoulli = "bernoulli"
    weibull = "weibull"
    negative_binomial = "negative-binomial"


class Duration(str, Enum):
    poisson = "poisson"
    negative_binomial = "negative_binomial"
    nonparametric = "nonparametric"


class Covariance(str, Enum):
    full = "full"
    diag = "diag"
    tied = "tied"
    spherical = "spherical"


#: --emission families fitted as emkit.HMM(<distribution>(), k)
_DISTRIBUTIONS = {"exponential": "Exponential", "gamma": "Gamma", "lognormal": "LogNormal",
                  "student-t": "StudentT", "bernoulli": "Bernoulli", "weibull": "Weibull",
                  "negative-binomial": "NegativeBinomial"}

EmissionOption = Annotated[Emission, typer.Option(
    "--emission", "-e", help="What each state emits: gaussian, gmm (a Gaussian mixture), "
    "categorical (one column of symbols 0, 1, ...), poisson, multinomial (counts per "
    "category), or one of the emkit.distributions families exponential, gamma, lognormal, "
    "student-t, bernoulli, weibull, negative-binomial.")]
CovarianceOption = Annotated[Covariance | None, typer.Option(
    "--covariance-type", help="full, diag, tied or spherical (gaussian and gmm; default "
    "diag).")]
MixOption = Annotated[int | None, typer.Option(
    "--n-mix", min=1, help="Gaussian components per state (gmm only; default 2).")]
IterOption = Annotated[int, typer.Option("--n-iter", min=1, help="Most EM iterations.")]
TolOption = Annotated[float, typer.Option(
    "--tol", min=0.0, help="Stop when the log-likelihood gains less than this.")]
InitOption = Annotated[int, typer.Option(
    "--n-init", min=1, help="Random starts; the best log-likelihood is kept.")]
WeightsOption = Annotated[str | None, typer.Option(
    "--weights", "-w", metavar="COLUMN", help="Column with each sequence's weight "
    "(constant within a sequence; an integer weight counts the sequence that many "
    "times).")]


DurationOption = Annotated[Duration | None, typer.Option(
    "--duration", help="Fit a hidden semi-Markov model (emkit.HSMM) with this duration "
    "family: poisson, negative_binomial (both on d - 1) or nonparametric.")]
MaxDurationOption = Annotated[int | None, typer.Option(
    "--max-duration", min=1, help="Longest state duration of --duration (default: the "
    "longest sequence).")]
CovariatesOption = Annotated[list[str] | None, typer.Option(
    "--covariates", metavar="NAMES", help="Fit an emkit.InputDrivenHMM whose transitions "
    "are a multinomial logit of these columns (comma-separated; not features).")]


def _distribution(emission: str, covariance_type: str | None) -> Any:
    """The emkit.distributions template of ``--emission`` for HSMM and InputDrivenHMM."""
    from .. import distributions

    named = {"gaussian": "Gaussian", "categorical": "Categorical", "poisson": "Poisson",
             "multinomial": "Multinomial", **_DISTRIBUTIONS}
    if emission not in named:
        raise typer.BadParameter(f"--emission {emission} is not available with --duration "
                                 "or --covariates", param_hint="--emission")
    if emission == "gaussian":
        return distributions.Gaussian(covariance_type=covariance_type or "diag")
    return getattr(distributions, named[emission])()


def build_hmm(emission: str, states: int, *, covariance_type: str | None = None,
              n_mix: int | None = None, duration: str | None = None,
              max_duration: int | None = None, covariates: bool = False,
              **settings: Any) -> Any:
    """The unfitted HMM estimator that ``--emission`` names, with ``states`` states.

    ``settings`` (``n_iter``, ``tol``, ``n_init``, ``random_state``) go to its
    constructor. With ``duration`` an :class:`~emkit.HSMM`, with ``covariates``
    an :class:`~emkit.InputDrivenHMM`, of that emission. ``typer.BadParameter``
    (exit 2) when ``--covariance-type`` or ``--n-mix`` is given for a family that
    has none, or the options do not go together.
    """
    from .. import distributions
    from ..estimators import hmm as named

    if covariance_type is not None and emission not in ("gaussian", "gmm"):
        raise typer.BadParameter(f"--emission {emission} has no covariance type; it "
                                 "applies to gaussian and gmm", param_hint="--covariance-type")
    if n_mix is not None and emission != "gmm":
        raise typer.BadParameter(f"--emission {emission} has no mixture components; it "
                                 "applies to gmm", param_hint="--n-mix")
    if duration is not None and covariates:
        raise typer.BadParameter("cannot be combined with --covariates (an HSMM or an "
                                 "input-driven HMM: give one)", param_hint="--duration")
    if max_duration is not None and duration is None:
        raise typer.BadParameter("--max-duration needs --duration", param_hint="--max-duration")
    if duration is not None:
        from ..estimators.hsmm import HSMM

        return HSMM(_distribution(emission, covariance_type), states, duration=duration,
                    max_duration=max_duration, **settings)
    if covariates:
        from ..estimators.hmm_input_driven import InputDrivenHMM

        return InputDrivenHMM(_distribution(emission, covariance_type), states, **settings)
    if emission == "gaussian":
        return named.GaussianHMM(states, covariance_type or "diag", **settings)
    if emission == "gmm":
        return named.GMMHMM(states, n_mix or 2, covariance_type=covariance_type or "diag",
                            **settings)
    if emission == "categorical":
        return named.CategoricalHMM(states, **settings)
    if emission == "poisson":
        return named.PoissonHMM(states, **settings)
    if emission == "multinomial":
        return named.MultinomialHMM(states, **settings)
    from ..estimators.hmm_distribution import HMM

    return HMM(getattr(distributions, _DISTRIBUTIONS[emission])(), states, **settings)


def _describe(model: Any) -> str:
    """``GaussianHMM (diag)``, ``GMMHMM (2 components per state, full)``, ``HMM(Gamma)``."""
    name = type(model).__name__
    if name == "GaussianHMM":
        return f"{name} ({model.covariance_type})"
    if name == "GMMHMM":
        return f"{name} ({model.n_mix} components per state, {model.covariance_type})"
    if name == "HMM":
        return f"HMM({type(model.emission).__name__})"
    if name == "HSMM":
        return f"HSMM({type(model.emission).__name__}, {model.duration} durations)"
    if name == "InputDrivenHMM":
        return f"InputDrivenHMM({type(model.emission).__name__})"
    return name


def _emission_parameters(model: Any) -> dict[str, Any]:
    """The fitted emission parameters, one array per name, states along the first axis."""
    name = type(model).__name__
    if name == "GaussianHMM":
        return {"means": model.means_, "covars": model._covars_}
    if name == "GMMHMM":
        return {"weights": model.weights_, "means": model.means_, "covars": model.covars_}
    if name in ("CategoricalHMM", "MultinomialHMM"):
        return {"emissionprob": model.emissionprob_}
    if name == "PoissonHMM":
        return {"lambdas": model.lambdas_}
    states = [e.parameters() for e in model.emissions_]
    return {key: np.stack([np.asarray(p[key], dtype=float) for p in states])
            for key in states[0]}


_TITLES = {"means": "Means", "covars": "Covariances", "weights": "Mixture weights",
           "emissionprob": "Emission probabilities", "lambdas": "Rates"}


def _fit_quietly(model: Any, rows: SequenceTable) -> None:
    """``model.fit`` with its warnings as ``emkit: warning:`` lines on stderr."""
    from ..exceptions import ConvergenceWarning

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        extra = {} if rows.U is None else {"covariates": rows.U}
        model.fit(rows.X, rows.lengths, sample_weight=rows.weights, **extra)
    for item in caught:
        warn(str(item.message))


def _read(data: str, model: Any, family: str, sequence_column: str | None,
          columns: list[str] | None, weights_column: str | None = None,
          covariates: list[str] | None = None) -> SequenceTable:
    """The table at ``data`` grouped by sequence, its empty cells accepted as missing
    where ``model`` takes NaN (refused, naming ``family``, where it does not)."""
    from ..io import read_table

    return read_sequences(read_table(data), sequence_column, columns,
                          missing_ok=takes_missing(model), family=family,
                          weights_column=weights_column, covariates=covariates)


def _report_lines(rows: SequenceTable, weights_column: str | None) -> None:
    """The lines that only some fits print: missing cells, the weight column."""
    if rows.n_missing:
        print(f"{rows.n_missing} empty cell(s) taken as missing at random")
    if weights_column is not None:
        print(f"sequences weighted by column {weights_column}; log-likelihood, AIC and BIC "
              "are weighted")


def fit(
    data: Annotated[str, typer.Argument(help="CSV/TSV/Parquet/NPY table, or - for stdin.")],
    states: Annotated[int, typer.Option("--states", "-k", min=1,
                                        help="Number of hidden states.")] = 2,
    sequence_column: SequenceOption = None,
    columns: ColumnsOption = None,
    emission: EmissionOption = Emission.gaussian,
    covariance_type: CovarianceOption = None,
    n_mix: MixOption = None,
    duration: DurationOption = None,
    max_duration: MaxDurationOption = None,
    covariates: CovariatesOption = None,
    n_iter: IterOption = 100,
    tol: TolOption = 1e-2,
    n_init: InitOption = 1,
    weights: WeightsOption = None,
    save: Annotated[Path | None, typer.Option(
        "--save", metavar="PATH", help="Save the fitted model (emkit format).")] = None,
    as_json: JsonOption = False,
    seed: SeedOption = None,
) -> None:
    """Fit an HMM with STATES states to the sequences in DATA; print it with AIC and BIC.

    Empty cells are missing entries for gaussian, gmm and the emkit.distributions
    families (refused by categorical, poisson and multinomial). --duration fits an
    HSMM, --covariates an input-driven HMM (not both).
    """
    cov_names = split_columns(covariates)
    model = build_hmm(emission.value, states, n_mix=n_mix, n_iter=n_iter, tol=tol,
                      n_init=n_init, random_state=seed,
                      duration=None if duration is None else duration.value,
                      max_duration=max_duration, covariates=cov_names is not None,
                      covariance_type=None if covariance_type is None else covariance_type.value)
    rows = _read(data, model, f"--emission {emission.value}", sequence_column,
                 split_columns(columns), weights, cov_names)
    X, lengths, names = rows.X, rows.lengths, rows.names
    _fit_quietly(model, rows)
    model.feature_names_in_ = list(names)
    model.sequence_column_ = sequence_column
    if cov_names is not None:
        model.covariate_names_ = list(cov_names)
    n_parameters, scores = fit_criteria(model, rows)
    loglik, aic, bic = scores["loglik"], scores["aic"], scores["bic"]
    emission_parameters = _emission_parameters(model)
    kind = kind_parameters(model, cov_names)
    flat = not hasattr(model, "emission")  # hmmlearn-named classes: also at the top
    if save is not None:
        model.save(save)
    if as_json:
        print_json({"states": states, "emission": emission.value, "model": _describe(model),
                    "covariance_type": getattr(model, "covariance_type", None),
                    "columns": names, "n_sequences": len(lengths), "n_rows": len(X),
                    "n_missing": rows.n_missing, "weights_column": weights,
                    "loglik": loglik, "aic": aic, "bic": bic, "n_parameters": n_parameters,
                    "converged": model.monitor_.converged, "n_iter": model.monitor_.iter,
                    "n_init": n_init, "startprob": model.startprob_,
                    "transmat": getattr(model, "transmat_", None), **kind,
                    **(emission_parameters if flat else {}),
                    "emission_parameters": emission_parameters, "saved": save})
        return
    print(f"{_describe(model)}, {states} states, {len(lengths)} sequence(s), "
          f"{len(X)} rows, columns {', '.join(names)}")
    _report_lines(rows, weights)
    print(f"log-likelihood {loglik:.6f} after {model.monitor_.iter} iterations "
          f"(converged: {model.monitor_.converged})")
    print(f"AIC {aic:.3f}, BIC {bic:.3f} ({n_parameters} free parameters; lower is better)")
    print_block("Start probabilities", model.startprob_)
    if hasattr(model, "transmat_"):
        print_block("Transition matrix", model.transmat_)
    if "durations" in kind:
        print(f"Durations: {model.duration}, 1 to {model.max_duration_} frames")
        print_block("Duration parameters", model.duration_params_)
    if cov_names is not None:
        for j, name in enumerate(["intercept", *cov_names]):
            print_block(f"Transition coefficients ({name})", model.transition_coef_[:, :, j])
    for key, value in emission_parameters.items():
        if key != "covars":
            print_block(_TITLES.get(key, f"Emission {key}"), value)
    if save is not None:
        print(f"Wrote {save}", file=sys.stderr)


def _counts(text: str) -> list[int]:
    """``--n-components`` as ``emkit select`` reads its ``--k``: 1..6, 2,3,5 or 4."""
    from .select import parse_components

    try:
        return parse_components(text)
    except typer.BadParameter as exc:
        raise typer.BadParameter(exc.message, param_hint="--n-components") from None


class Criterion(str, Enum):
    bic = "bic"
    aic = "aic"


def _number(value: Any, digits: int = 3) -> str:
    return "-" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


def _print_table(result: Any) -> None:
    import pandas as pd
    from rich.console import Console
    from rich.table import Table

    console = Console(highlight=False)
    if not console.is_terminal:
        console.width = max(console.width, 100)
    criterion = result.criterion
    table = Table("states", "loglik", "n_parameters", "bic", "aic", "converged",
                  title=f"{criterion.upper()} by number of states (lower is better)")
    for row in result.table.itertuples(index=False):
        chosen = pd.isna(row.error) and int(row.n_components) == result.best_n_components
        cells = [str(row.n_components), _number(row.loglik),
                 "-" if pd.isna(row.n_parameters) else str(row.n_parameters),
                 _number(row.bic), _number(row.aic), str(bool(row.converged))]
        table.add_row(*(f"[bold]{c}[/bold]" if chosen else c for c in cells))
    console.print(table)
    for row in result.table[result.table["error"].notna()].itertuples(index=False):
        console.print(f"failed: {row.n_components} states: {row.error}")
    best = result.best
    chosen_row = result.table[result.table["n_components"] == result.best_n_components].iloc[0]
    console.print(f"Best by {criterion.upper()}: {result.best_n_components} states "
                  f"({_describe(best)}), log-likelihood {chosen_row['loglik']:.3f}, "
                  f"{int(chosen_row['n_parameters'])} free parameters")


def select(
    data: Annotated[str, typer.Argument(help="CSV/TSV/Parquet/NPY table, or - for stdin.")],
    n_components: Annotated[str, typer.Option(
        "--n-components", "-k", metavar="COUNTS",
        help="Numbers of states to try: 1..6, 2,3,5 or 4.")] = "1..6",
    sequence_column: SequenceOption = None,
    columns: ColumnsOption = None,
    emission: EmissionOption = Emission.gaussian,
    covariance_type: CovarianceOption = None,
    n_mix: MixOption = None,
    criterion: Annotated[Criterion, typer.Option(
        "--criterion", help="Choose by BIC or AIC (lower is better).")] = Criterion.bic,
    n_iter: IterOption = 100,
    tol: TolOption = 1e-2,
    n_init: InitOption = 1,
    weights: WeightsOption = None,
    save: Annotated[Path | None, typer.Option(
        "--save", metavar="PATH", help="Save the chosen model (emkit format).")] = None,
    as_json: JsonOption = False,
    seed: SeedOption = None,
) -> None:
    """Fit an HMM for each number of states and choose one by BIC (or AIC)."""
    from ..estimators.hmm_selection import select_hmm
    from ..exceptions import ConvergenceWarning

    counts = _counts(n_components)
    template = build_hmm(emission.value, counts[0], n_mix=n_mix, n_iter=n_iter, tol=tol,
                         covariance_type=None if covariance_type is None
                         else covariance_type.value)
    rows = _read(data, template, f"--emission {emission.value}", sequence_column,
                 split_columns(columns), weights)
    X, lengths, names = rows.X, rows.lengths, rows.names
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        result = select_hmm(X, lengths, n_components=counts, emission=template,
                            sample_weight=rows.weights, criterion=criterion.value,
                            n_init=n_init, random_state=seed)
    for item in caught:
        warn(str(item.message))
    best = result.best
    best.feature_names_in_ = list(names)
    best.sequence_column_ = sequence_column
    if save is not None:
        best.save(save)
    if as_json:
        records = result.table.astype(object).where(result.table.notna(), None)
        print_json({"criterion": criterion.value, "emission": emission.value,
                    "columns": names, "n_sequences": len(lengths), "n_rows": len(X),
                    "n_missing": rows.n_missing, "weights_column": weights,
                    "best": {"n_components": result.best_n_components,
                             "model": _describe(best), "startprob": best.startprob_,
                             "transmat": best.transmat_,
                             "emission_parameters": _emission_parameters(best)},
                    "table": records.to_dict(orient="records"), "saved": save})
        return
    _report_lines(rows, weights)
    _print_table(result)
    if save is not None:
        print(f"Saved the chosen model to {save}", file=sys.stderr)


def decode(
    model_path: Annotated[Path, typer.Argument(metavar="MODEL", help="A saved emkit HMM.")],
    data: Annotated[str, typer.Argument(help="Table with the model's columns, or -.")],
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", help="Write the states CSV here (default: stdout).")] = None,
    sequence_column: SequenceOption = None,
    algorithm: Annotated[str, typer.Option(
        "--algorithm", help="viterbi (best path) or map (best state per row).")] = "viterbi",
) -> None:
    """Most likely hidden state of every row of DATA under MODEL, as CSV (row, state)."""
    import pandas as pd

    from ..estimators.hmm_base import BaseHMM
    from ..estimators.hmm_input_driven import InputDrivenHMM
    from ..io import read_table
    from ..persistence import load
    from . import CLIError

    model = load(model_path)
    if not isinstance(model, (BaseHMM, InputDrivenHMM)):
        raise CLIError(f"{model_path} holds a {type(model).__name__}, not a hidden Markov model")
    table = read_table(data)
    if sequence_column is None:
        saved = getattr(model, "sequence_column_", None)
        sequence_column = saved if saved in table.columns else None
    names = getattr(model, "feature_names_in_", None)
    covariates = getattr(model, "covariate_names_", None)
    if isinstance(model, InputDrivenHMM) and model.n_covariates_in_ and not covariates:
        raise CLIError(f"{model_path} does not name its covariate columns (it was not "
                       "fitted by emkit hmm fit --covariates)")
    rows = read_sequences(table, sequence_column, list(names) if names else None,
                          missing_ok=takes_missing(model), family=_describe(model),
                          covariates=list(covariates) if covariates else None)
    extra = {} if rows.U is None else {"covariates": rows.U}
    _, states = model.decode(rows.X, rows.lengths, algorithm=algorithm, **extra)
    per_row = np.empty(len(states), dtype=np.int64)
    per_row[rows.order] = states
    result = pd.DataFrame({"row": np.arange(len(per_row)), "state": per_row})
    if sequence_column is not None:
        result.insert(0, sequence_column, rows.ids.to_numpy())
    if output is None:
        result.to_csv(sys.stdout, index=False)
    else:
        from ..atomic import atomic_write

        with atomic_write(output, "w", encoding="utf-8", newline="") as fh:
            result.to_csv(fh, index=False)
        print(f"Wrote {output}", file=sys.stderr)


hmm_app.command("fit")(fit)
hmm_app.command("select")(select)
hmm_app.command("decode")(decode)


def register(app: typer.Typer) -> None:
    """Add ``emkit hmm fit``, ``emkit hmm select`` and ``emkit hmm decode`` to ``app``."""
    app.add_typer(hmm_app, name="hmm")
