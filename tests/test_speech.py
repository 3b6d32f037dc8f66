"""Spoken-digit recognition: the bundled MFCC data, the feature function, the
left-right GMM-HMM recipe and ``emkit demo speech``.

The features are checked against an MFCC pipeline written here from its
definition (power spectrum, mel filterbank, decibels, orthonormal DCT-II) and the
deltas against librosa and a closed form; the recipe against chance and against a
model that cannot tell the words apart.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.fft

import emkit
from emkit.cli import main
from emkit.datasets import speech_features
from emkit.datasets.spoken_digits import FILE_NAME
from emkit.examples import speech


@pytest.fixture(scope="module")
def librosa():
    return pytest.importorskip("librosa")


@pytest.fixture(scope="module")
def digits():
    return emkit.datasets.load_spoken_digits()


# ---- the bundled data

def test_loader_shapes_and_labels(digits):
    n = len(digits)
    assert n == 480 and len(digits.features) == n
    assert all(f.ndim == 2 and f.shape[1] == 26 and f.dtype == np.float64
               for f in digits.features)
    assert min(len(f) for f in digits.features) >= 40
    assert digits.labels.shape == digits.voice.shape == digits.snr_db.shape == (n,)
    assert digits.words == ("zero", "one", "two", "three", "four", "five", "six", "seven",
                            "eight", "nine")
    assert sorted(set(digits.labels.tolist())) == list(range(10))
    assert len(digits.voices) == 24 and len(set(digits.voices)) == 24
    # every voice says every word twice
    counts = np.zeros((24, 10), dtype=int)
    np.add.at(counts, (digits.voice, digits.labels), 1)
    assert (counts == 2).all()
    assert ((digits.speed_wpm >= 110) & (digits.speed_wpm <= 240)).all()
    assert ((digits.snr_db >= 0) & (digits.snr_db <= 15)).all()
    assert "eSpeak NG" in digits.made_with and "librosa" in digits.made_with


def test_loader_mfcc_only_and_deltas_from_the_stored_mfccs(digits, librosa):
    plain = emkit.datasets.load_spoken_digits(deltas=False)
    assert all(f.shape[1] == 13 for f in plain.features)
    for i in (0, 17, 479):
        np.testing.assert_array_equal(digits.features[i][:, :13], plain.features[i])
        expected = librosa.feature.delta(plain.features[i].T, width=9, order=1).T
        np.testing.assert_allclose(digits.features[i][:, 13:], expected, rtol=1e-12,
                                   atol=1e-12)
        # cepstral mean normalization: each stored coefficient averages ~0 (float32)
        np.testing.assert_allclose(plain.features[i].mean(axis=0), 0.0, atol=1e-4)


def test_the_file_is_plain_arrays_without_pickle(monkeypatch):
    path = emkit.datasets.path(FILE_NAME)
    with np.load(path, allow_pickle=False) as data:  # an object array would raise here
        assert all(not data[name].dtype.hasobject for name in data.files)
        assert int(data["lengths"].sum()) == len(data["mfcc"])
    seen = []
    real_load = np.load

    def spy(*args, **kwargs):
        seen.append(kwargs.get("allow_pickle"))
        return real_load(*args, **kwargs)

    monkeypatch.setattr(np, "load", spy)
    emkit.datasets.load_spoken_digits(deltas=False)
    assert seen == [False]


def test_sequences_stack_utterances(digits):
    X, lengths = digits.sequences([3, 1])
    np.testing.assert_array_equal(lengths, [len(digits.features[3]), len(digits.features[1])])
    np.testing.assert_array_equal(X, np.vstack([digits.features[3], digits.features[1]]))
    mask = digits.labels == 4
    X, lengths = digits.sequences(mask)
    assert len(lengths) == 48 and lengths.sum() == len(X)
    with pytest.raises(ValueError, match="indices"):
        digits.sequences([480])
    with pytest.raises(ValueError, match="indices"):
        digits.sequences(mask[:10])
    with pytest.raises(ValueError, match="indices"):
        digits.sequences([])


def test_the_package_data_setting_ships_the_file():
    tomllib = pytest.importorskip("tomllib")
    from fnmatch import fnmatch
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    config = tomllib.loads((root / "pyproject.toml").read_text())
    patterns = config["tool"]["setuptools"]["package-data"]["emkit"]
    assert any(fnmatch(f"datasets/{FILE_NAME}", p) for p in patterns)
    assert "librosa" in " ".join(config["project"]["optional-dependencies"]["speech"])


# ---- the feature function

def reference_mfcc(y: np.ndarray, librosa) -> np.ndarray:
    """MFCCs from their definition: centred Hann frames, |FFT|^2, mel filterbank
    (librosa's Slaney filters, the only borrowed piece), 10 log10 with librosa's
    80 dB floor, orthonormal DCT-II, coefficients 0-12, mean over time removed."""
    n_fft, hop = 400, 160
    padded = np.pad(y, n_fft // 2, mode="constant")
    n_frames = 1 + (len(padded) - n_fft) // hop
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)  # periodic Hann
    frames = np.stack([padded[t * hop:t * hop + n_fft] * window for t in range(n_frames)])
    power = np.abs(np.fft.rfft(frames, axis=1)) ** 2
    mel = librosa.filters.mel(sr=16000, n_fft=n_fft, n_mels=40, fmin=20.0, fmax=8000.0)
    db = 10 * np.log10(np.maximum(power @ mel.T, 1e-10))
    db = np.maximum(db, db.max() - 80.0)
    cepstra = scipy.fft.dct(db, type=2, norm="ortho", axis=1)[:, :13]
    return cepstra - cepstra.mean(axis=0)


def synthetic_vowel(seconds: float = 0.5) -> np.ndarray:
    """A gliding two-harmonic tone with a little noise (fixed seed)."""
    t = np.arange(int(seconds * 16000)) / 16000
    f0 = 140 + 60 * t / seconds
    phase = 2 * np.pi * np.cumsum(f0) / 16000
    rng = np.random.default_rng(0)
    return 0.4 * np.sin(phase) + 0.2 * np.sin(3 * phase) + 0.01 * rng.normal(size=len(t))


def test_mfcc_equals_its_definition(librosa):
    y = synthetic_vowel()
    ours = speech_features.mfcc(y)
    assert ours.shape == (1 + len(y) // 160, 13)
    np.testing.assert_allclose(ours, reference_mfcc(y, librosa), rtol=1e-6, atol=1e-6)


def test_deltas_of_a_quadratic_are_its_slope():
    # the regression slope over 9 frames is exact for a line and, in the interior,
    # for a quadratic (the window is symmetric); at the ends the fitted line of
    # the first / last 9 frames is evaluated at the frame
    t = np.arange(30, dtype=float)
    frames = np.column_stack([3.0 * t - 2.0, 0.5 * t ** 2])
    out = speech_features.add_deltas(frames)
    assert out.shape == (30, 4)
    np.testing.assert_array_equal(out[:, :2], frames)
    np.testing.assert_allclose(out[:, 2], 3.0, rtol=1e-12)
    np.testing.assert_allclose(out[4:-4, 3], t[4:-4], rtol=1e-12)
    first_slope = np.polyfit(t[:9], frames[:9, 1], 1)[0]
    np.testing.assert_allclose(out[:4, 3], first_slope, rtol=1e-12)


def test_speech_features_is_mfcc_then_librosa_deltas(librosa):
    y = synthetic_vowel(0.3)
    feats = speech_features.speech_features(y)
    coefficients = speech_features.mfcc(y)
    np.testing.assert_array_equal(feats[:, :13], coefficients)
    np.testing.assert_allclose(feats[:, 13:], librosa.feature.delta(coefficients.T).T,
                               rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(("call", "match"), [
    (lambda: speech_features.mfcc(np.zeros((400, 2))), "waveform must be 1-D"),
    (lambda: speech_features.mfcc(np.zeros(100)), "at least 400"),
    (lambda: speech_features.mfcc(np.full(800, np.nan)), "finite"),
    (lambda: speech_features.mfcc(np.ones(800), 22050), "sample_rate must be 16000"),
    (lambda: speech_features.add_deltas(np.zeros(9)), "frames must be 2-D"),
    (lambda: speech_features.add_deltas(np.zeros((5, 13))), "at least 9"),
])
def test_feature_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()


# ---- the recipe

def test_left_right_chain():
    startprob, transmat = speech.left_right(4)
    np.testing.assert_array_equal(startprob, [1, 0, 0, 0])
    np.testing.assert_array_equal(transmat, [[0.5, 0.5, 0, 0], [0, 0.5, 0.5, 0],
                                             [0, 0, 0.5, 0.5], [0, 0, 0, 1]])
    with pytest.raises(ValueError, match="n_states"):
        speech.left_right(0)


def test_flat_start_is_each_stretch_split_by_kmeans(digits):
    feats = [digits.features[i] for i in np.flatnonzero(digits.labels == 2)[:6]]
    weights, means, covars = speech.flat_start(feats, 3, 1)
    for s in range(3):
        pooled = np.concatenate([np.array_split(f, 3)[s] for f in feats])
        np.testing.assert_allclose(means[s, 0], pooled.mean(axis=0), rtol=1e-12)
        np.testing.assert_allclose(covars[s, 0], pooled.var(axis=0) + 1e-3, rtol=1e-12)
    np.testing.assert_array_equal(weights, 1.0)
    weights, means, covars = speech.flat_start(feats, 5, 2)
    assert means.shape == covars.shape == (5, 2, 26)
    np.testing.assert_allclose(weights.sum(axis=1), 1.0, rtol=1e-12)
    with pytest.raises(ValueError, match="features"):
        speech.flat_start([], 5, 2)
    with pytest.raises(ValueError, match="n_states=5"):
        speech.flat_start([np.zeros((3, 26))], 5, 2)


def test_word_model_follows_hmmlearn_from_the_same_start(digits):
    hmm = pytest.importorskip("hmmlearn.hmm")
    feats = [digits.features[i] for i in np.flatnonzero(digits.labels == 7)[:8]]
    # tol=0: exactly n_iter Baum-Welch steps in both (emkit says it did not converge)
    with pytest.warns(emkit.ConvergenceWarning):
        ours = speech.word_model(feats, n_iter=5, tol=0.0)
    theirs = speech.word_model(feats, n_iter=5, tol=0.0, model_class=hmm.GMMHMM)
    assert ours.monitor_.iter == theirs.monitor_.iter == 5
    for name in ("startprob_", "transmat_", "weights_", "means_", "covars_"):
        np.testing.assert_allclose(getattr(ours, name), getattr(theirs, name), rtol=1e-9,
                                   atol=1e-12, err_msg=name)
    X = np.concatenate(feats)
    np.testing.assert_allclose(ours.score(X), theirs.score(X), rtol=1e-12)


@pytest.fixture(scope="module")
def small_run(digits):
    # 8 training and 8 test recordings per word (80 each): measured 0.95
    # (76 of 80); the full split (320 / 160) measures 0.956
    return speech.recognize_digits(digits, max_train_per_word=8, max_test_per_word=8)


def test_recipe_recognizes_unseen_voices(small_run, digits):
    result = small_run
    assert result.n_train == result.n_test == 80
    assert result.accuracy > 0.85
    assert result.confusion.shape == (10, 10) and result.confusion.sum() == 80
    np.testing.assert_array_equal(result.confusion.sum(axis=1), 8)
    assert np.trace(result.confusion) == int(np.sum(result.predicted == result.true))
    np.testing.assert_array_equal(result.predicted, result.scores.argmax(axis=1))
    # every score is the forward log-likelihood of that recording under that model
    held_out = speech.held_out_voices(digits)
    assert held_out[result.test_index].all() and len(set(result.test_index)) == 80
    np.testing.assert_array_equal(result.true, digits.labels[result.test_index])
    for row in (0, 45):
        features = digits.features[result.test_index[row]]
        np.testing.assert_allclose(result.scores[row],
                                   [m.score(features) for m in result.models], rtol=1e-12)


def test_frames_without_order_are_not_enough(digits):
    # the control: one state with one Gaussian per word ignores the order of the
    # frames; measured 0.49 on the same subset
    result = speech.recognize_digits(digits, n_states=1, n_mix=1, max_train_per_word=8,
                                     max_test_per_word=8)
    assert result.accuracy < 0.7


def test_left_right_zeros_stay_after_fit(small_run):
    _, start_transmat = speech.left_right(5)
    for model in small_run.models:
        np.testing.assert_array_equal(model.startprob_, [1, 0, 0, 0, 0])
        np.testing.assert_array_equal(model.transmat_[start_transmat == 0], 0.0)
        assert (np.diag(model.transmat_, 1) > 0).all()
        assert model.transmat_[-1, -1] == 1.0
        np.testing.assert_allclose(model.transmat_.sum(axis=1), 1.0, rtol=1e-12)


def test_recipe_bad_input(digits):
    with pytest.raises(ValueError, match="max_train_per_word"):
        speech.recognize_digits(digits, max_train_per_word=0)
    with pytest.raises(ValueError, match="max_test_per_word"):
        speech.recognize_digits(digits, max_test_per_word=2.5)


def test_confusion_figure_is_written(small_run, tmp_path):
    target = speech.save_confusion_figure(small_run, tmp_path / "confusion.png")
    from PIL import Image

    with Image.open(target) as image:
        assert image.size == (560, 480)
    assert [p.name for p in tmp_path.iterdir()] == ["confusion.png"]


# ---- emkit demo speech

def test_demo_speech(capsys, tmp_path):
    out_dir = tmp_path / "plots"
    code = main(["demo", "speech", "--out", str(out_dir), "--quiet"])
    out, err = capsys.readouterr()
    assert code == 0 and err == ""
    line = next(s for s in out.splitlines() if s.startswith("Accuracy on unseen voices:"))
    accuracy = float(line.split(":")[1].split("%")[0]) / 100
    assert accuracy > 0.9  # measured 0.956 (153 of 160)
    assert "(rows: word spoken, columns: recognized as)" in out
    assert "trained 'zero'" not in out  # --quiet
    assert sorted(p.name for p in out_dir.iterdir()) == ["speech_confusion.png"]


def test_demo_rejects_an_unknown_topic(capsys):
    code = main(["demo", "nonsense"])
    _, err = capsys.readouterr()
    assert code == 2 and "topic" in err
