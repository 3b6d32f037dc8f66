"""``emkit demo``: EM at work on bundled data, step by step, in a few seconds.

1. Old Faithful (272 eruptions, 2 columns) fitted with two Gaussian components
   from a deliberately poor first guess, every iteration printed (the E-step /
   M-step story), then summarized; the figures go to a folder it names.
2. The teacher's gradebook: missing marks filled in by EM (``emkit.EMImputer``).

``emkit demo speech`` instead recognizes spoken digits: one left-right
``emkit.GMMHMM`` per word trained on 16 synthetic voices, tested on 8 others
(:mod:`emkit.examples.speech`); it prints the accuracy and writes the confusion
matrix as a figure.
"""

from __future__ import annotations

import textwrap
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, cast

import typer

from ._common import EXIT_OK, watch_fit

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["demo", "register", "DEFAULT_OUT", "Topic"]

DEFAULT_OUT = Path("emkit-demo-plots")
#: The seed of the poor first guess: random responsibilities, both components
#: starting almost on top of each other (EM takes ~27 iterations to split them).
FAITHFUL_SEED = 2


class Topic(str, Enum):
    """What ``emkit demo`` shows."""

    tour = "tour"
    speech = "speech"


def _say(text: str) -> None:
    print(textwrap.dedent(text).strip("\n"))


def _faithful(out: Path, quiet: bool) -> dict[str, Any]:
    from .. import GaussianMixture
    from ..datasets import load_faithful
    from ..plot import plot_density_1d, save_mixture_plots
    from ..trace import format_trace
    from .fit import TRACE_KEYS, print_summary, summary

    data = load_faithful()
    _say(f"""
        == 1. Old Faithful: two kinds of eruption, found by EM ==

        {len(data)} eruptions of the Old Faithful geyser: how long each lasted
        (eruptions, minutes) and the wait until the next (waiting, minutes). Nobody
        labelled them, yet there seem to be two kinds. A two-component Gaussian
        mixture says which, and EM fits it by disciplined guessing:

          first guess  every eruption gets random responsibilities, so both
                       components start almost on top of each other (iteration 0);
          E-step       for each eruption, the probability (responsibility) that it
                       came from each component, under the current guess;
          M-step       each component's weight, mean and covariance re-estimated
                       as responsibility-weighted averages;
          repeat       until the log-likelihood stops rising.
        """)
    model = GaussianMixture(n_components=2, init_params="random", random_state=FAITHFUL_SEED,
                            tol=1e-6, max_iter=500)
    with watch_fit(quiet=quiet, total=model.max_iter, label="Old Faithful") as watch:
        model.fit(data)
    steps = watch.recorder.best_run()
    print()
    print(format_trace(steps, keys=TRACE_KEYS, max_rows=40))
    print()
    facts = summary(model, data, watch)
    print_summary(facts)
    short = int(facts["means"][:, 0].argmin())
    w, m = facts["weights"], facts["means"]
    print()
    print(textwrap.fill(
        f"Reading it: {w[short]:.0%} of eruptions are short (about {m[short, 0]:.1f} min, "
        f"then a wait of {m[short, 1]:.0f} min); the rest are long (about "
        f"{m[1 - short, 0]:.1f} min, then {m[1 - short, 1]:.0f} min). The log-likelihood "
        "never fell from one iteration to the next: that is EM's guarantee.", width=79))
    plots = save_mixture_plots(out, data, model, steps)
    # the fit above, seen on its first column: the weights are those printed above
    ax = plot_density_1d(data, model, dim=0,
                         title="Eruption durations: the two components of the fit")
    figure = cast("Figure", ax.figure)  # plot_density_1d drew on a new figure
    from ..atomic import atomic_path

    with atomic_path(out / "eruptions.png") as tmp:
        figure.savefig(tmp, dpi=100)
    import matplotlib.pyplot as plt

    plt.close(figure)
    plots.append(out / "eruptions.png")
    print(f"\nFigures written to {out}/: {', '.join(p.name for p in plots)}")
    return facts


def _gradebook(quiet: bool) -> Any:
    import numpy as np

    from .. import EMImputer
    from ..datasets import load_gradebook

    book = load_gradebook()
    subjects = [c for c in book.columns if c != "student"]
    marks = book[subjects]
    missing = marks.isna().to_numpy()
    print("== 2. The teacher's gradebook: missing marks, filled by EM ==\n")
    print(textwrap.fill(
        f"{len(book)} students, {len(subjects)} subjects; {int(missing.sum())} of "
        f"{missing.size} marks are missing, yet results must be finalized. The teacher "
        "guesses each missing mark by its class average, recomputes the class means and "
        "how the subjects go together, re-guesses each missing mark from the student's "
        "other marks, and repeats until stable. That loop is EM (emkit.EMImputer):",
        width=79))
    imputer = EMImputer(tol=1e-8)
    with watch_fit(quiet=quiet, total=imputer.max_iter, label="gradebook"):
        filled = imputer.fit_transform(marks)
    history = imputer.history_
    width = max(9, *(len(c) for c in subjects))
    print()
    print("iteration".ljust(12) + "".join(c.rjust(width + 1) for c in subjects)
          + "max change".rjust(13))
    n = len(history["iteration"])
    shown = list(range(min(n, 8))) + ([n - 1] if n > 8 else [])
    for i in shown:
        if i == n - 1 and n > 8:
            print("...")
        label = "first guess" if i == 0 else str(int(history["iteration"][i]))
        change = history["change"][i]
        print(label.ljust(12) + "".join(f"{m:{width + 1}.3f}" for m in history["means"][i])
              + ("" if not np.isfinite(change) else f"{change:13.2e}"))
    state = "converged" if imputer.converged_ else "stopped at max_iter"
    print(f"\nEM {state} after {imputer.n_iter_} iterations. Filled-in marks, for the "
          "first three students with gaps:")
    rows = [i for i in range(len(book)) if missing[i].any()][:3]
    for i in rows:
        parts = [f"{c} {filled[i, j]:.1f} (was missing)" if missing[i, j] else
                 f"{c} {marks.iloc[i, j]:.0f}" for j, c in enumerate(subjects)]
        print(f"  {book['student'].iloc[i]}: " + ", ".join(parts))
    print("\nThe observed marks are kept exactly; only the gaps are filled, each with "
          "its\nconditional expectation given the student's other marks.")
    return imputer


def _speech(out: Path, quiet: bool) -> Any:
    import numpy as np

    from ..datasets import load_spoken_digits
    from ..examples.speech import recognize_digits, save_confusion_figure

    data = load_spoken_digits()
    _say(f"""
        emkit demo speech: spoken-word recognition with hidden Markov models.

        {len(data)} recordings of the words "zero".."nine" by {len(data.voices)} voices
        of the espeak-ng synthesizer (8 English accents; random speed and pitch;
        noise at 0-15 dB SNR), each cut into 10 ms frames of 13 MFCCs and their
        deltas. Each word gets a left-to-right GMM-HMM: 5 states in a chain (stay or
        move on), each emitting a mixture of 2 diagonal Gaussians, trained by
        Baum-Welch (EM) on 16 of the voices. A recording of the other 8 voices, never
        heard in training, is recognized as the word whose model scores it highest.
        """)
    print()

    def trained(word: str, model: Any) -> None:
        if not quiet:
            print(f"  trained '{word}': {model.monitor_.iter} Baum-Welch iterations, "
                  f"log-likelihood {model.monitor_.history[-1]:.1f}", flush=True)

    result = recognize_digits(data, on_model=trained)
    words = result.words
    print(f"\nTrained {len(words)} models on {result.n_train} recordings in "
          f"{result.train_seconds:.1f} s; scored {result.n_test} test recordings in "
          f"{result.test_seconds:.1f} s.")
    print(f"Accuracy on unseen voices: {result.accuracy:.1%} "
          f"({int(np.sum(result.predicted == result.true))} of {result.n_test}; "
          f"chance is {1 / len(words):.0%}).")
    print("\nConfusion matrix (rows: word spoken, columns: recognized as):")
    width = max(len(w) for w in words) + 1
    print(" " * width + "".join(w[:4].rjust(5) for w in words))
    for word, row in zip(words, result.confusion, strict=True):
        print(word.ljust(width) + "".join(f"{int(c):5d}" for c in row))
    mistakes = [(int(result.confusion[i, j]), words[i], words[j])
                for i in range(len(words)) for j in range(len(words))
                if i != j and result.confusion[i, j]]
    if mistakes:
        count, spoken, heard = max(mistakes)
        print(f"\nThe most frequent mistake: '{spoken}' heard as '{heard}' ({count}x).")
    out.mkdir(parents=True, exist_ok=True)
    target = save_confusion_figure(result, out / "speech_confusion.png")
    print(f"Figure written to {target}")
    return result


def demo(
    topic: Annotated[Topic, typer.Argument(
        help="tour: Old Faithful and the gradebook; speech: spoken-digit recognition "
             "with one GMM-HMM per word.")] = Topic.tour,
    out: Annotated[Path, typer.Option(
        "--out", metavar="DIR", help="Folder for the figures.")] = DEFAULT_OUT,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> int:
    """Watch EM work on bundled data: Old Faithful step by step, then the teacher's gradebook
    (or, with `speech`, recognize spoken digits with hidden Markov models)."""
    if topic == Topic.speech:
        _speech(Path(out), quiet)
        return EXIT_OK
    _say("""
        emkit demo: the Expectation-Maximization algorithm, watched step by step.
        EM is not magic, it is disciplined guessing: guess the hidden part, improve
        the parameters, repeat until stable.
        """)
    print()
    _faithful(Path(out), quiet)
    print()
    _gradebook(quiet)
    return EXIT_OK


def register(app: typer.Typer) -> None:
    from ._command import add_command

    add_command(app, "demo", demo, reads_data=False)
