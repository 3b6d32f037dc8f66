"""Spoken-digit recognition: one left-right GMM-HMM per word, the classic recipe.

Each word "zero".."nine" gets its own :class:`emkit.GMMHMM`: ``n_states`` states
in a left-to-right chain (the model starts in state 0, each state either repeats
or moves to the next, the last one absorbs), each state emitting a diagonal
Gaussian mixture of ``n_mix`` components over the 26 MFCC-and-delta features of a
10 ms frame. Baum-Welch trains each word's model on its training utterances; a new
utterance is recognized as the word whose model gives it the highest
log-likelihood.

Every model starts from a flat start (the speech recognizers' "uniform
segmentation"): each training utterance is cut into ``n_states`` equal stretches,
the ``s``-th stretches of all utterances are pooled, and k-means on the pool
gives state ``s``'s mixture weights, means and variances. The start is a
function of the data alone, so any hmmlearn-compatible ``GMMHMM`` class can be
trained from exactly the same parameters (``init_params=""``), which is how
``benchmarks/bench_speech.py`` compares emkit with hmmlearn.

The data are :func:`emkit.datasets.load_spoken_digits`; by default the models
are trained on 16 of its 24 voices and tested on the other 8, voices they never
heard.

An application of the estimators, like :mod:`emkit.segmentation`; the ``emkit
demo speech`` command is built on it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from ..datasets.spoken_digits import SpokenDigits

__all__ = [
    "SpeechResult",
    "left_right",
    "flat_start",
    "word_model",
    "held_out_voices",
    "recognize_digits",
    "confusion_figure",
    "save_confusion_figure",
]

#: A variance floor added to every flat-start variance (hmmlearn's ``min_covar``).
MIN_COVAR = 1e-3


@dataclass(frozen=True)
class SpeechResult:
    """What :func:`recognize_digits` measured.

    Attributes
    ----------
    accuracy : float
        Share of test utterances recognized as the word spoken.
    confusion : ndarray of shape (n_words, n_words)
        Counts; row = word spoken, column = word recognized.
    predicted, true : ndarray of shape (n_test,)
        Recognized and spoken word of each test utterance.
    test_index : ndarray of shape (n_test,)
        Which utterances of the data were tested (word by word), in that order.
    scores : ndarray of shape (n_test, n_words)
        Log-likelihood of each test utterance under each word's model.
    words : tuple of str
    models : list of n_words fitted models
    n_train, n_test : int
        Utterances used to train (all words together) and to test.
    train_seconds, test_seconds : float
        Wall time of training the models (flat starts included) and of scoring the
        test utterances.
    """

    accuracy: float
    confusion: np.ndarray
    predicted: np.ndarray
    true: np.ndarray
    test_index: np.ndarray
    scores: np.ndarray
    words: tuple[str, ...]
    models: list[Any]
    n_train: int
    n_test: int
    train_seconds: float
    test_seconds: float


def left_right(n_states: int) -> tuple[np.ndarray, np.ndarray]:
    """Start and transition probabilities of a left-to-right chain.

    Returns
    -------
    startprob : ndarray of shape (n_states,)
        ``[1, 0, ..., 0]``: every utterance starts in state 0.
    transmat : ndarray of shape (n_states, n_states)
        Upper bidiagonal: stay or move on with probability 1/2 each; the last
        state stays. Baum-Welch never makes a zero probability positive, so the
        fitted chain keeps this shape.
    """
    if isinstance(n_states, bool) or not isinstance(n_states, (int, np.integer)) \
            or n_states < 1:
        raise ValueError(f"n_states must be an integer >= 1, got {n_states!r}")
    startprob = np.zeros(n_states)
    startprob[0] = 1.0
    transmat = np.diag(np.full(n_states, 0.5)) + np.diag(np.full(n_states - 1, 0.5), 1)
    transmat[-1, -1] = 1.0
    return startprob, transmat


def flat_start(features: list[np.ndarray], n_states: int, n_mix: int,
               random_state: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Diagonal GMM-HMM emission parameters from a uniform segmentation.

    Parameters
    ----------
    features : list of ndarrays of shape (n_frames_i, n_features)
        One word's training utterances, each at least ``n_states`` frames.
    n_states, n_mix : int
    random_state : int, default 0
        Seed of the k-means that splits each state's frames into ``n_mix`` groups.

    Returns
    -------
    weights : ndarray of shape (n_states, n_mix)
    means : ndarray of shape (n_states, n_mix, n_features)
    covars : ndarray of shape (n_states, n_mix, n_features)
        Each group's variances plus :data:`MIN_COVAR`.
    """
    from sklearn.cluster import KMeans

    if not features:
        raise ValueError("features must hold at least one utterance")
    if min(len(f) for f in features) < n_states:
        raise ValueError(f"features: every utterance needs at least n_states={n_states} "
                         "frames")
    n_features = features[0].shape[1]
    weights = np.empty((n_states, n_mix))
    means = np.empty((n_states, n_mix, n_features))
    covars = np.empty((n_states, n_mix, n_features))
    for s in range(n_states):
        pooled = np.concatenate([np.array_split(f, n_states)[s] for f in features])
        if len(pooled) < n_mix:
            raise ValueError(f"features: state {s} has {len(pooled)} frames for "
                             f"n_mix={n_mix} components")
        labels = KMeans(n_mix, n_init=1, random_state=random_state).fit(pooled).labels_
        for m in range(n_mix):
            group = pooled[labels == m]
            weights[s, m] = len(group) / len(pooled)
            means[s, m] = group.mean(axis=0)
            covars[s, m] = group.var(axis=0) + MIN_COVAR
    return weights, means, covars


def word_model(features: list[np.ndarray], *, n_states: int = 5, n_mix: int = 2,
               n_iter: int = 200, tol: float = 0.1, model_class: Any = None,
               random_state: int = 0) -> Any:
    """One word's left-right GMM-HMM, flat-started and trained by Baum-Welch.

    Parameters
    ----------
    features : list of ndarrays of shape (n_frames_i, n_features)
        The word's training utterances.
    n_states, n_mix : int, default 5 and 2
        States in the chain; diagonal Gaussian components per state.
    n_iter, tol : default 200 and 0.1
        Baum-Welch's iteration cap and tolerance on the gain in the total
        log-likelihood of the word's training frames (hmmlearn's rule); the
        models converge in 15 to 65 iterations.
    model_class : class, default :class:`emkit.GMMHMM`
        Any class with hmmlearn's ``GMMHMM`` arguments and attributes (e.g.
        ``hmmlearn.hmm.GMMHMM``).
    random_state : int, default 0

    Returns
    -------
    The fitted model; ``init_params=""``, so its start is exactly
    :func:`left_right` and :func:`flat_start`.
    """
    if model_class is None:
        from ..estimators.hmm import GMMHMM

        model_class = GMMHMM
    startprob, transmat = left_right(n_states)
    weights, means, covars = flat_start(features, n_states, n_mix, random_state)
    model = model_class(n_components=n_states, n_mix=n_mix, covariance_type="diag",
                        min_covar=MIN_COVAR, n_iter=n_iter, tol=tol, params="stmcw",
                        init_params="", random_state=random_state)
    model.startprob_, model.transmat_ = startprob, transmat
    model.weights_, model.means_, model.covars_ = weights, means, covars
    X = np.concatenate(features)
    return model.fit(X, [len(f) for f in features])


def held_out_voices(data: SpokenDigits) -> np.ndarray:
    """The held-out utterances: each accent's third voice (8 of the 24 voices).

    Returns
    -------
    ndarray of shape (n_utterances,), bool
    """
    return np.asarray(data.voice) % 3 == 2


def _first_per_word(labels: np.ndarray, chosen: np.ndarray, limit: int | None,
                    name: str) -> list[np.ndarray]:
    if limit is not None and (isinstance(limit, bool) or not isinstance(
            limit, (int, np.integer)) or limit < 1):
        raise ValueError(f"{name} must be an integer >= 1 or None, got {limit!r}")
    out = []
    for word in range(int(labels.max()) + 1):
        rows = np.flatnonzero(chosen & (labels == word))
        if limit is not None:
            # rows run voice by voice, two renditions each: the first renditions of
            # all voices come first, so a subset still has every voice
            order = np.argsort(np.arange(len(rows)) % 2, kind="stable")
            rows = np.sort(rows[order][:limit])
        out.append(rows)
    return out


def recognize_digits(data: SpokenDigits | None = None, *, n_states: int = 5, n_mix: int = 2,
                     n_iter: int = 200, tol: float = 0.1,
                     max_train_per_word: int | None = None,
                     max_test_per_word: int | None = None, model_class: Any = None,
                     random_state: int = 0,
                     on_model: Callable[[str, Any], None] | None = None) -> SpeechResult:
    """Train one GMM-HMM per word on 16 voices and recognize the other 8's words.

    Parameters
    ----------
    data : SpokenDigits, optional
        Default :func:`emkit.datasets.load_spoken_digits` (26 features per frame).
    n_states, n_mix, n_iter, tol, model_class, random_state
        As :func:`word_model`.
    max_train_per_word, max_test_per_word : int, optional
        Use at most this many utterances of each word (one rendition per voice
        first), for a quicker run; all by default (32 and 16).
    on_model : callable, optional
        Called as ``on_model(word, fitted_model)`` after each word's training.

    Returns
    -------
    SpeechResult
    """
    if data is None:
        from ..datasets import load_spoken_digits

        data = load_spoken_digits()
    labels = np.asarray(data.labels)
    held_out = held_out_voices(data)
    train_rows = _first_per_word(labels, ~held_out, max_train_per_word, "max_train_per_word")
    test_rows = np.concatenate(
        _first_per_word(labels, held_out, max_test_per_word, "max_test_per_word"))
    start = time.perf_counter()
    models = []
    for word, rows in zip(data.words, train_rows, strict=True):
        models.append(word_model([data.features[i] for i in rows], n_states=n_states,
                                 n_mix=n_mix, n_iter=n_iter, tol=tol, model_class=model_class,
                                 random_state=random_state))
        if on_model is not None:
            on_model(word, models[-1])
    trained = time.perf_counter()
    scores = np.array([[model.score(data.features[i]) for model in models]
                       for i in test_rows])
    tested = time.perf_counter()
    predicted = scores.argmax(axis=1)
    true = labels[test_rows]
    n_words = len(models)
    confusion = np.zeros((n_words, n_words), dtype=np.int64)
    np.add.at(confusion, (true, predicted), 1)
    return SpeechResult(
        accuracy=float(np.mean(predicted == true)), confusion=confusion, predicted=predicted,
        true=true, test_index=test_rows, scores=scores, words=tuple(data.words), models=models,
        n_train=int(sum(len(r) for r in train_rows)), n_test=len(test_rows),
        train_seconds=trained - start, test_seconds=tested - trained)


def confusion_figure(result: SpeechResult) -> Figure:
    """The confusion matrix as a heat map with counts (rows spoken, columns recognized)."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(5.6, 4.8))
    ax = figure.add_subplot()
    image = ax.imshow(result.confusion, cmap="Blues")
    n = len(result.words)
    ax.set_xticks(range(n), result.words, rotation=45, ha="right")
    ax.set_yticks(range(n), result.words)
    ax.set_xlabel("recognized as")
    ax.set_ylabel("word spoken")
    ax.set_title(f"Spoken digits, unseen voices: {result.accuracy:.1%} correct")
    top = result.confusion.max()
    for i in range(n):
        for j in range(n):
            count = int(result.confusion[i, j])
            if count:
                ax.text(j, i, str(count), ha="center", va="center", fontsize=8,
                        color="white" if count > top / 2 else "black")
    figure.colorbar(image, ax=ax, label="utterances")
    figure.tight_layout()
    return figure


def save_confusion_figure(result: SpeechResult, path: str | Path, dpi: int = 100) -> Path:
    """Write :func:`confusion_figure` to ``path`` (PNG by its suffix), atomically."""
    from ..atomic import atomic_path

    target = Path(path)
    with atomic_path(target) as tmp:
        confusion_figure(result).savefig(tmp, dpi=dpi)
    return target
