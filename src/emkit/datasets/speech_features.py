"""MFCC frames for speech: the front end of the spoken-digit data set.

:func:`mfcc` turns a waveform into 13 mel-frequency cepstral coefficients per
10 ms frame with librosa (the optional ``speech`` extra: ``pip install
emkit[speech]``), imported only when called; :func:`add_deltas` appends their
first time-derivatives with NumPy and SciPy alone, so loading the bundled
features needs no audio library. :func:`speech_features` is both together, the
26 numbers per frame the spoken-digit recognizer uses.

The settings are the usual ones for speech at 16 kHz: 25 ms windows (400
samples, Hann) every 10 ms (160 samples), a 40-band mel filterbank from 20 Hz
to 8 kHz, log power in decibels, a DCT-II (orthonormal) keeping coefficients
0-12, then cepstral mean normalization (each coefficient's mean over the
utterance subtracted), which removes a fixed channel or voice colouring and the
overall loudness.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = [
    "SAMPLE_RATE",
    "N_MFCC",
    "N_FFT",
    "HOP_LENGTH",
    "N_MELS",
    "FMIN",
    "DELTA_WIDTH",
    "mfcc",
    "add_deltas",
    "speech_features",
]

#: Samples per second the features are computed at.
SAMPLE_RATE = 16_000
#: Cepstral coefficients kept per frame (c0..c12).
N_MFCC = 13
#: Window length in samples (25 ms).
N_FFT = 400
#: Hop between frames in samples (10 ms).
HOP_LENGTH = 160
#: Mel bands of the filterbank.
N_MELS = 40
#: Lowest filterbank frequency in Hz (the highest is the Nyquist frequency).
FMIN = 20.0
#: Frames in the delta regression window (librosa's default, 4 either side).
DELTA_WIDTH = 9


def _waveform(waveform: Any, sample_rate: Any) -> np.ndarray:
    y = np.asarray(waveform, dtype=np.float64)
    if y.ndim != 1:
        raise ValueError(f"waveform must be 1-D (mono samples), got shape {y.shape}")
    if len(y) < N_FFT:
        raise ValueError(f"waveform must have at least {N_FFT} samples, got {len(y)}")
    if not np.all(np.isfinite(y)):
        raise ValueError("waveform must be finite (no NaN or inf)")
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, (int, np.integer)) \
            or sample_rate != SAMPLE_RATE:
        raise ValueError(f"sample_rate must be {SAMPLE_RATE} (resample first, e.g. "
                         f"librosa.resample), got {sample_rate!r}")
    return y


def mfcc(waveform: Any, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Mel-frequency cepstral coefficients, mean-normalized over the utterance.

    Parameters
    ----------
    waveform : array-like of shape (n_samples,)
        Mono samples, at least 400 of them.
    sample_rate : int, default 16000
        Must be 16000 (the settings above are for 16 kHz speech).

    Returns
    -------
    ndarray of shape (n_frames, 13)
        ``n_frames = 1 + n_samples // 160`` (centred frames, the signal padded at
        both ends). Each column has mean zero.
    """
    y = _waveform(waveform, sample_rate)
    try:
        import librosa
    except ImportError as exc:  # pragma: no cover - the speech extra is in dev
        raise ImportError("emkit.datasets.speech_features.mfcc needs librosa: "
                          "pip install 'emkit[speech]'") from exc
    coefficients = librosa.feature.mfcc(
        y=y, sr=SAMPLE_RATE, n_mfcc=N_MFCC, n_fft=N_FFT, hop_length=HOP_LENGTH,
        win_length=N_FFT, window="hann", n_mels=N_MELS, fmin=FMIN, fmax=SAMPLE_RATE / 2)
    frames = np.ascontiguousarray(coefficients.T)
    return frames - frames.mean(axis=0)


def add_deltas(frames: Any) -> np.ndarray:
    """Append first time-derivatives (deltas) to each frame's coefficients.

    The delta of a coefficient at frame t is the slope of the least-squares line
    through the 9 frames t-4..t+4; in the first and last 4 frames the line
    through the first (last) 9 frames is used. This is ``librosa.feature.delta``
    (a Savitzky-Golay derivative, ``mode="interp"``), written with SciPy so the
    bundled features load without librosa.

    Parameters
    ----------
    frames : array-like of shape (n_frames, n_coefficients)
        At least 9 frames.

    Returns
    -------
    ndarray of shape (n_frames, 2 * n_coefficients)
        The coefficients, then their deltas.
    """
    from scipy.signal import savgol_filter

    x = np.asarray(frames, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"frames must be 2-D (n_frames, n_coefficients), got shape {x.shape}")
    if len(x) < DELTA_WIDTH:
        raise ValueError(f"frames must have at least {DELTA_WIDTH} rows, got {len(x)}")
    delta = savgol_filter(x, DELTA_WIDTH, polyorder=1, deriv=1, axis=0, mode="interp")
    return np.hstack([x, delta])


def speech_features(waveform: Any, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """:func:`mfcc` and its :func:`add_deltas`: 26 numbers per 10 ms frame.

    Parameters
    ----------
    waveform : array-like of shape (n_samples,)
        Mono samples at 16 kHz, at least 1280 of them (9 frames).
    sample_rate : int, default 16000

    Returns
    -------
    ndarray of shape (n_frames, 26)
    """
    return add_deltas(mfcc(waveform, sample_rate))
