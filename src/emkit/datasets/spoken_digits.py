"""The bundled spoken digits: MFCC frames of "zero".."nine" from 24 synthetic voices.

Made by ``tools/make_spoken_digits.py`` with the espeak-ng synthesizer (8 English
accents, 3 voice variants each, 2 renditions of every word per voice at random
speed and pitch, white noise at 15-30 dB SNR) and
:func:`emkit.datasets.speech_features.mfcc`. The file holds the 13 MFCCs per
frame (float32); :func:`load_spoken_digits` adds the deltas.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .speech_features import add_deltas

__all__ = ["SpokenDigits", "load_spoken_digits", "FILE_NAME"]

FILE_NAME = "spoken_digits.npz"


@dataclass(frozen=True)
class SpokenDigits:
    """Spoken-digit utterances as frames of features.

    Attributes
    ----------
    features : list of n_utterances ndarrays of shape (n_frames_i, n_features)
        One utterance each: 13 MFCCs then (by default) their 13 deltas per
        10 ms frame; 45 to 93 frames.
    labels : ndarray of shape (n_utterances,)
        The digit spoken, 0..9 (``words[label]`` is the word).
    voice : ndarray of shape (n_utterances,)
        Which voice spoke it, an index into ``voices``.
    voices : tuple of str
        espeak-ng voice names (accent, then ``+variant``).
    words : tuple of str
        ``("zero", ..., "nine")``.
    speed_wpm, pitch : ndarray of shape (n_utterances,)
        espeak-ng's speed (words per minute) and pitch (0-99) used.
    snr_db : ndarray of shape (n_utterances,)
        Signal-to-noise ratio of the added white noise, in dB.
    made_with : str
        The espeak-ng and librosa versions and the seed.
    """

    features: list[np.ndarray]
    labels: np.ndarray
    voice: np.ndarray
    voices: tuple[str, ...]
    words: tuple[str, ...]
    speed_wpm: np.ndarray
    pitch: np.ndarray
    snr_db: np.ndarray
    made_with: str

    def __len__(self) -> int:
        return len(self.features)

    def sequences(self, indices: Any = None) -> tuple[np.ndarray, np.ndarray]:
        """The chosen utterances stacked for ``fit(X, lengths)``.

        Parameters
        ----------
        indices : array-like of int or bool of shape (n_utterances,), optional
            Which utterances (all by default).

        Returns
        -------
        X : ndarray of shape (sum of their frames, n_features)
        lengths : ndarray of shape (n_chosen,)
        """
        chosen = np.arange(len(self)) if indices is None else np.asarray(indices)
        if chosen.dtype == bool:
            if chosen.shape != (len(self),):
                raise ValueError(f"indices as a mask must have shape ({len(self)},), "
                                 f"got {chosen.shape}")
            chosen = np.flatnonzero(chosen)
        elif chosen.ndim != 1 or not np.issubdtype(chosen.dtype, np.integer):
            raise ValueError("indices must be a 1-D array of integers or a boolean mask")
        if len(chosen) == 0:
            raise ValueError("indices must choose at least one utterance")
        if chosen.min() < -len(self) or chosen.max() >= len(self):
            raise ValueError(f"indices must lie in 0..{len(self) - 1}")
        X = np.concatenate([self.features[i] for i in chosen])
        lengths = np.array([len(self.features[i]) for i in chosen], dtype=np.int64)
        return X, lengths


def load_spoken_digits(deltas: bool = True) -> SpokenDigits:
    """Spoken digits "zero".."nine": 480 utterances by 24 synthetic voices.

    Every voice says every word twice (10 x 24 x 2), so splitting by voice gives
    a test set of speakers the models never heard. Read without pickle.

    Parameters
    ----------
    deltas : bool, default True
        Append each MFCC's delta (:func:`emkit.datasets.speech_features.add_deltas`):
        26 features per frame; ``False`` gives the 13 MFCCs.

    Returns
    -------
    SpokenDigits
    """
    from . import path

    with np.load(path(FILE_NAME), allow_pickle=False) as data:
        mfcc = data["mfcc"].astype(np.float64)
        lengths = data["lengths"]
        split = np.split(mfcc, np.cumsum(lengths)[:-1])
        features = [add_deltas(f) if deltas else f for f in split]
        return SpokenDigits(
            features=features, labels=data["labels"].copy(), voice=data["voice"].copy(),
            voices=tuple(str(v) for v in data["voices"]),
            words=tuple(str(w) for w in data["words"]),
            speed_wpm=data["speed_wpm"].copy(), pitch=data["pitch"].copy(),
            snr_db=data["snr_db"].astype(np.float64), made_with=str(data["made_with"]))
