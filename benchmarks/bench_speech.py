"""Spoken-digit recognition: the same recipe with emkit's GMMHMM and hmmlearn's, side by side.

Run ``python benchmarks/bench_speech.py [--quick]``. The recipe is
:func:`emkit.examples.speech.recognize_digits`: one left-right GMM-HMM per word
(5 states, 2 diagonal components each) on the bundled spoken digits, trained on
16 voices and tested on the other 8. Both libraries start every word's model from
exactly the same parameters (the uniform-segmentation start, ``init_params=""``)
and stop by the same rule (gain in total log-likelihood below ``tol``), so they
run the same number of Baum-Welch iterations; the table gives accuracy, training
time (start included, one run) and scoring time of the test recordings (median of
3 passes). ``--quick`` trains
on 8 recordings per word and tests on 8 per word.

One BLAS thread for both; emkit's compiled kernels are warmed up (compiled or
loaded from numba's cache) by a small fit before anything is timed.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import emkit
from _common import markdown_table, median_seconds
from emkit.examples.speech import held_out_voices, recognize_digits, word_model


def _warm_up(data) -> None:
    import hmmlearn.hmm

    feats = [data.features[i] for i in np.flatnonzero(data.labels == 0)[:2]]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for cls in (emkit.GMMHMM, hmmlearn.hmm.GMMHMM):
            model = word_model(feats, n_iter=2, model_class=cls)
            model.score(feats[0])


def _scoring_seconds(data, result, repeats: int = 3) -> float:
    """Median time to score ``result.n_test`` held-out recordings under every word's model
    (the first ones; the same count as the recipe scored, for timing only)."""
    test = [data.features[i] for i in np.flatnonzero(held_out_voices(data))][:result.n_test]

    def score_all() -> None:
        for features in test:
            for model in result.models:
                model.score(features)

    return median_seconds(score_all, repeats)[0]


def _run(quick: bool) -> str:
    import hmmlearn
    import hmmlearn.hmm

    data = emkit.datasets.load_spoken_digits()
    _warm_up(data)
    subset = {"max_train_per_word": 8, "max_test_per_word": 8} if quick else {}
    results, scoring = {}, {}
    for name, cls in (("emkit GMMHMM", emkit.GMMHMM),
                      (f"hmmlearn {hmmlearn.__version__} GMMHMM", hmmlearn.hmm.GMMHMM)):
        results[name] = r = recognize_digits(data, model_class=cls, **subset)
        scoring[name] = _scoring_seconds(data, r)
    ours, theirs = results.values()
    score_ref = scoring[next(reversed(scoring))]
    def per_iteration(r) -> float:
        return r.train_seconds / sum(int(m.monitor_.iter) for m in r.models)

    rows = []
    for name, r in results.items():
        iterations = sum(int(m.monitor_.iter) for m in r.models)
        rows.append([name, f"{r.accuracy:.4f}", f"{r.train_seconds:.2f}",
                     f"{r.train_seconds / theirs.train_seconds:.2f}", iterations,
                     f"{1e3 * per_iteration(r):.1f}",
                     f"{per_iteration(r) / per_iteration(theirs):.2f}",
                     f"{scoring[name]:.2f}", f"{scoring[name] / score_ref:.2f}"])
    same = np.array_equal(ours.predicted, theirs.predicted)
    gap = max(float(np.max(np.abs(a.transmat_ - b.transmat_)))
              for a, b in zip(ours.models, theirs.models, strict=True))
    return (
        "## Spoken-digit recognition: emkit GMMHMM vs hmmlearn GMMHMM\n\n"
        f"One left-right GMM-HMM per word (5 states x 2 diagonal components, 26 MFCC "
        f"features), same start and stopping rule; {ours.n_train} training and "
        f"{ours.n_test} test recordings (unseen voices). Training time includes the "
        "start; the stopping rules differ in detail, so the iteration counts may too, and "
        "the time per iteration is the fairer ratio. Scoring is one `score` per "
        "(recording, word), the median of 3 passes; training runs once (hmmlearn's takes "
        "minutes), so its times carry the shared machine's noise.\n\n"
        + markdown_table(["library", "accuracy", "train s", "train ratio",
                          "Baum-Welch iterations (10 words)", "train ms / iteration",
                          "per-iteration ratio", "score s", "score ratio"], rows)
        + f"\n\nSame predictions: {'yes' if same else 'no'}; largest difference between the "
        f"fitted transition matrices: {gap:.1e}.\n"
    )


def main(quick: bool = False) -> str:
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        return _run(quick)


if __name__ == "__main__":
    print(main(quick="--quick" in sys.argv))
