"""Make src/emkit/datasets/spoken_digits.npz: spoken digits synthesized by espeak-ng.

``python tools/make_spoken_digits.py`` (needs the ``espeak-ng`` program, e.g.
Debian's ``apt-get install espeak-ng``, and librosa: ``pip install -e '.[speech]'``).
The output is fixed by SEED and by the espeak-ng and librosa versions (recorded in
the file). CI does not run this: it cannot synthesize audio, so the features are
shipped.

Each of the words "zero".."nine" is spoken by every voice (an English accent of
espeak-ng with a voice variant: male or female, a different timbre) in
RENDITIONS renditions, each at a speed (words per minute) and pitch drawn at
random. The waveform is resampled to 16 kHz, trimmed to 60 ms of silence either
side, and white noise at a random signal-to-noise ratio is added; then
:func:`emkit.datasets.speech_features.mfcc` gives 13 mean-normalized MFCCs per
10 ms frame. Only the MFCCs are stored (float32); the loader adds the deltas.
"""

from __future__ import annotations

import argparse
import io
import shutil
import subprocess
from pathlib import Path

import numpy as np

from emkit.atomic import atomic_write
from emkit.datasets.speech_features import SAMPLE_RATE, mfcc

WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
ACCENTS = ("en-us", "en-gb", "en-gb-scotland", "en-gb-x-rp", "en-gb-x-gbclan",
           "en-gb-x-gbcwmd", "en-029", "en-us-nyc")
#: espeak-ng voice variants (``!v`` files): default male, female f1-f5, male m1-m8.
VARIANTS = ("", "+f1", "+m3", "+f3", "+m7", "+f4", "+m5", "+f2", "+m2", "+f5", "+m6", "+m4")
VOICES_PER_ACCENT = 3
RENDITIONS = 2
SPEED_WPM = (110, 240)
PITCH = (10, 90)  # espeak-ng's 0-99 scale, 50 by default
SNR_DB = (0.0, 15.0)
PAD_SECONDS = 0.06
SEED = 20240515
OUT = Path(__file__).resolve().parents[1] / "src" / "emkit" / "datasets" / "spoken_digits.npz"


def voices() -> list[str]:
    """ACCENTS x VOICES_PER_ACCENT voices, the variants taken in turn."""
    out = []
    for i, accent in enumerate(ACCENTS):
        for j in range(VOICES_PER_ACCENT):
            out.append(accent + VARIANTS[(i * VOICES_PER_ACCENT + j) % len(VARIANTS)])
    return out


def synthesize(word: str, voice: str, speed: int, pitch: int) -> tuple[np.ndarray, int]:
    import soundfile

    wav = subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "-p", str(pitch),
                          "--stdout", word], check=True, capture_output=True).stdout
    samples, rate = soundfile.read(io.BytesIO(wav), dtype="float64")
    return samples, int(rate)


def prepare(samples: np.ndarray, rate: int, snr_db: float,
            rng: np.random.Generator) -> np.ndarray:
    """16 kHz, trimmed, padded with PAD_SECONDS of silence, noise at ``snr_db``."""
    import librosa

    y = librosa.resample(samples, orig_sr=rate, target_sr=SAMPLE_RATE)
    y, _ = librosa.effects.trim(y, top_db=40)
    pad = np.zeros(int(PAD_SECONDS * SAMPLE_RATE))
    y = np.concatenate([pad, y / np.max(np.abs(y)) * 0.5, pad])
    speech_power = np.mean(y[len(pad):-len(pad)] ** 2)
    noise = rng.normal(scale=np.sqrt(speech_power / 10 ** (snr_db / 10)), size=len(y))
    return y + noise


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    if shutil.which("espeak-ng") is None:
        raise SystemExit("espeak-ng not found (Debian: apt-get install espeak-ng)")
    import librosa

    version = subprocess.run(["espeak-ng", "--version"], check=True, capture_output=True,
                             text=True).stdout.split("Data at")[0].strip()
    rng = np.random.default_rng(SEED)
    frames, labels, voice_ids, speeds, pitches, snrs = [], [], [], [], [], []
    names = voices()
    for v, voice in enumerate(names):
        for label, word in enumerate(WORDS):
            for _ in range(RENDITIONS):
                speed = int(rng.integers(SPEED_WPM[0], SPEED_WPM[1] + 1))
                pitch = int(rng.integers(PITCH[0], PITCH[1] + 1))
                snr = float(rng.uniform(*SNR_DB))
                samples, rate = synthesize(word, voice, speed, pitch)
                frames.append(mfcc(prepare(samples, rate, snr, rng)).astype(np.float32))
                labels.append(label)
                voice_ids.append(v)
                speeds.append(speed)
                pitches.append(pitch)
                snrs.append(snr)
    lengths = np.array([len(f) for f in frames], dtype=np.int64)
    with atomic_write(args.out) as fh:
        np.savez_compressed(
            fh, mfcc=np.concatenate(frames), lengths=lengths,
            labels=np.array(labels, dtype=np.int64), voice=np.array(voice_ids, dtype=np.int64),
            voices=np.array(names), words=np.array(WORDS),
            speed_wpm=np.array(speeds, dtype=np.int64), pitch=np.array(pitches, dtype=np.int64),
            snr_db=np.array(snrs, dtype=np.float32),
            made_with=np.array(f"{version}; librosa {librosa.__version__}; seed {SEED}"))
    print(f"wrote {args.out}: {len(frames)} utterances, {lengths.sum()} frames, "
          f"{args.out.stat().st_size / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
