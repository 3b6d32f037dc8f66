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
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer

from ._command import add_command
from ._common import (
    EXIT_INTERRUPTED,
    EXIT_OK,
    ColumnsOption,
    FitWatch,
    JsonOption,
    QuietOption,
    SeedOption,
    loading,
    plural,
    print_block,
    print_json,
    split_columns,
    warn,
    watch_fit,
)
from ._hmm_build import TITLES as _TITLES
from ._hmm_build import build_hmm
from ._hmm_build import describe as _describe
from ._hmm_build import emission_parameters as _emission_parameters
from ._hmm_table import SequenceTable, kind_parameters, read_sequences, takes_missing
from ._hmm_table import criteria as fit_criteria
from ._outcome import check_save_path
from ._reading import current_options, warn_counters

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
IterOption = Annotated[int, typer.Option(
    "--max-iter", min=1, help="Most EM iterations (the estimators' n_iter).")]
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


def _fit_watched(model: Any, rows: SequenceTable, quiet: bool) -> FitWatch:
    """``model.fit`` with a progress line, its warnings as ``emkit: warning:`` lines on
    stderr and Ctrl-C stopping after the running step (the best parameters kept)."""
    with watch_fit(quiet=quiet, total=model.n_iter, tol=model.tol, label="EM") as watch:
        extra = {} if rows.U is None else {"covariates": rows.U}
        model.fit(rows.X, rows.lengths, sample_weight=rows.weights, **extra)
    return watch


def _read(data: str, model: Any, family: str, sequence_column: str | None,
          columns: list[str] | None, weights_column: str | None = None,
          covariates: list[str] | None = None) -> SequenceTable:
    """The table at ``data`` grouped by sequence, its empty cells accepted as missing
    where ``model`` takes NaN (refused, naming ``family``, where it does not)."""
    from ._reading import read_input

    with loading(data, bool(current_options().get("quiet"))):
        table = read_input(data)
    rows = read_sequences(table, sequence_column, columns,
                          missing_ok=takes_missing(model), family=family,
                          weights_column=weights_column, covariates=covariates)
    if columns is None:
        warn_counters(rows.X, list(rows.names), rows.lengths)
    return rows


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
    seed: SeedOption = 0,
    quiet: QuietOption = False,
) -> int:
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
    check_save_path(save)
    rows = _read(data, model, f"--emission {emission.value}", sequence_column,
                 split_columns(columns), weights, cov_names)
    X, lengths, names = rows.X, rows.lengths, rows.names
    watch = _fit_watched(model, rows, quiet)
    interrupted = watch.interrupted
    converged = bool(model.monitor_.converged) and not interrupted
    model.feature_names_in_ = list(names)
    model.sequence_column_ = sequence_column
    if cov_names is not None:
        model.covariate_names_ = list(cov_names)
    n_parameters, scores = fit_criteria(model, rows)
    loglik, aic, bic = scores["loglik"], scores["aic"], scores["bic"]
    emission_parameters = _emission_parameters(model)
    kind = kind_parameters(model, cov_names)
    flat = not hasattr(model, "emission")  # hmmlearn-named classes: also at the top
    if save is not None and not interrupted:
        model.save(save)
    elif save is not None and not quiet:
        warn(f"the fit was interrupted, so {save} was not written")
    if as_json:
        print_json({"states": states, "emission": emission.value, "model": _describe(model),
                    "covariance_type": getattr(model, "covariance_type", None),
                    "columns": names, "n_sequences": len(lengths), "n_rows": len(X),
                    "n_missing": rows.n_missing, "weights_column": weights,
                    "loglik": loglik, "aic": aic, "bic": bic, "n_parameters": n_parameters,
                    "converged": converged, "n_iter": model.monitor_.iter,
                    "stop_reason": "interrupted" if interrupted else
                    ("converged" if converged else "max_iter"),
                    "n_init": n_init, "startprob": model.startprob_,
                    "transmat": getattr(model, "transmat_", None), **kind,
                    **(emission_parameters if flat else {}),
                    "emission_parameters": emission_parameters,
                    "saved": None if interrupted else save})
        return EXIT_INTERRUPTED if interrupted else EXIT_OK
    print(f"{_describe(model)}, {plural(states, 'state')}, {len(lengths)} sequence(s), "
          f"{len(X)} rows, columns {', '.join(names)}")
    _report_lines(rows, weights)
    state = "False (interrupted; best parameters so far)" if interrupted else str(converged)
    print(f"log-likelihood {loglik:.6f} after {model.monitor_.iter} iterations "
          f"(converged: {state})")
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
    if save is not None and not interrupted and not quiet:
        print(f"Wrote {save}", file=sys.stderr)
    return EXIT_INTERRUPTED if interrupted else EXIT_OK


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


class Algorithm(str, Enum):
    viterbi = "viterbi"
    map = "map"


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
        console.print(f"failed: {plural(int(row.n_components), 'state')}: {row.error}")
    best = result.best
    chosen_row = result.table[result.table["n_components"] == result.best_n_components].iloc[0]
    console.print(f"Best by {criterion.upper()}: {plural(result.best_n_components, 'state')} "
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
    seed: SeedOption = 0,
    quiet: QuietOption = False,
) -> int:
    """Fit an HMM for each number of states and choose one by BIC (or AIC)."""
    from ..estimators.hmm_selection import select_hmm

    counts = _counts(n_components)
    check_save_path(save)
    template = build_hmm(emission.value, counts[0], n_mix=n_mix, n_iter=n_iter, tol=tol,
                         covariance_type=None if covariance_type is None
                         else covariance_type.value)
    rows = _read(data, template, f"--emission {emission.value}", sequence_column,
                 split_columns(columns), weights)
    X, lengths, names = rows.X, rows.lengths, rows.names
    with watch_fit(quiet=quiet, abandon=True, label="hmm select", total=n_iter, tol=tol,
                   fits=len(counts) * n_init) as watch:
        result = select_hmm(X, lengths, n_components=counts, emission=template,
                            sample_weight=rows.weights, criterion=criterion.value,
                            n_init=n_init, random_state=seed)
    interrupted = watch.interrupted
    best = result.best
    best.feature_names_in_ = list(names)
    best.sequence_column_ = sequence_column
    if save is not None and not interrupted:
        best.save(save)
    elif save is not None and not quiet:
        warn(f"the selection was interrupted, so {save} was not written")
    if as_json:
        records = result.table.astype(object).where(result.table.notna(), None)
        print_json({"criterion": criterion.value, "emission": emission.value,
                    "columns": names, "n_sequences": len(lengths), "n_rows": len(X),
                    "n_missing": rows.n_missing, "weights_column": weights,
                    "best": {"n_components": result.best_n_components,
                             "model": _describe(best), "startprob": best.startprob_,
                             "transmat": best.transmat_,
                             "emission_parameters": _emission_parameters(best)},
                    "table": records.to_dict(orient="records"), "interrupted": interrupted,
                    "saved": None if interrupted else save})
        return EXIT_INTERRUPTED if interrupted else EXIT_OK
    _report_lines(rows, weights)
    if interrupted:
        print("Interrupted (Ctrl-C): the fits not run are listed as failed; the best below "
              "is the best so far")
    _print_table(result)
    if save is not None and not interrupted and not quiet:
        print(f"Saved the chosen model to {save}", file=sys.stderr)
    return EXIT_INTERRUPTED if interrupted else EXIT_OK


def decode(
    model_path: Annotated[Path, typer.Argument(metavar="MODEL", help="A saved emkit HMM.")],
    data: Annotated[str, typer.Argument(help="Table with the model's columns, or -.")],
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", help="Write the states here: .csv, .tsv, .parquet or .json by the "
        "suffix (default: CSV on stdout).")] = None,
    sequence_column: SequenceOption = None,
    algorithm: Annotated[Algorithm, typer.Option(
        "--algorithm", help="viterbi (best path) or map (best state per row).")
    ] = Algorithm.viterbi,
    as_json: JsonOption = False,
    quiet: QuietOption = False,
) -> int:
    """Most likely hidden state of every row of DATA under MODEL, as CSV (row, state)."""
    import pandas as pd

    from ..estimators.hmm_base import BaseHMM
    from ..estimators.hmm_input_driven import InputDrivenHMM
    from ..persistence import load
    from . import CLIError
    from ._output import check_output, write_table
    from ._reading import read_input

    check_output(output, "--output")
    model = load(model_path)
    if not isinstance(model, (BaseHMM, InputDrivenHMM)):
        raise CLIError(f"{model_path} holds a {type(model).__name__}, not a hidden Markov model")
    with loading(data, quiet):
        table = read_input(data)
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
    _, states = model.decode(rows.X, rows.lengths, algorithm=algorithm.value, **extra)
    per_row = np.empty(len(states), dtype=np.int64)
    per_row[rows.order] = states
    result = pd.DataFrame({"row": np.arange(len(per_row)), "state": per_row})
    if sequence_column is not None:
        result.insert(0, sequence_column, rows.ids.to_numpy())
    if as_json and output is None:
        print_json({"n_rows": len(result), "rows": result.to_dict(orient="records")})
        return EXIT_OK
    write_table(result, output)
    if output is not None and as_json:
        print_json({"n_rows": len(result), "output": str(output)})
    elif output is not None and not quiet:
        print(f"Wrote {output}", file=sys.stderr)
    return EXIT_OK


add_command(hmm_app, "fit", fit)
add_command(hmm_app, "select", select)
add_command(hmm_app, "decode", decode)


def register(app: typer.Typer) -> None:
    """Add ``emkit hmm fit``, ``emkit hmm select`` and ``emkit hmm decode`` to ``app``."""
    app.add_typer(hmm_app, name="hmm")
