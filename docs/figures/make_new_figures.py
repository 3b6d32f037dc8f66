"""Draw the figures of docs/hsmm.md, docs/input-driven-hmm.md and docs/bayesian-gaussian-mixture.md.

Run ``python docs/figures/make_new_figures.py`` from the repository root (or pass
an output folder). It writes exactly three files:

* ``hsmm_durations.png``: the duration distributions implied by an HMM (geometric,
  from its self-transition) and an HSMM (its fitted ``durations_``) fitted to the
  same simulated sequence, against the true durations;
* ``input_driven_stationary.png``: the stationary state probabilities of a fitted
  ``InputDrivenHMM`` against its covariate;
* ``bgm_weights.png``: a ``BayesianGaussianMixture``'s fitted ``weights_`` per
  component for several ``weight_concentration_prior`` values.

The data and fits are those of the pages' examples.
"""

from __future__ import annotations

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
from scipy.stats import poisson

import emkit
from emkit.distributions import Gaussian
from emkit.estimators.bayesian_gaussian_mixture import BayesianGaussianMixture
from emkit.estimators.hmm_input_driven import InputDrivenHMM
from emkit.estimators.hsmm import HSMM

HERE = Path(__file__).resolve().parent
MEANS = (0.0, 4.0, 8.0)
RATES = (4.0, 9.0, 19.0)  # Poisson rate of d - 1 in each true state


def hsmm_durations(path: Path) -> None:
    """HMM (geometric) and HSMM duration distributions against the true ones."""
    truth = HSMM([Gaussian(mean=[m], covariance=[[1.0]]) for m in MEANS], 3,
                 duration="poisson", max_duration=60, init_params="")
    truth.startprob_ = np.full(3, 1 / 3)
    truth.transmat_ = np.array([[0, 0.5, 0.5], [0.5, 0, 0.5], [0.5, 0.5, 0]])
    truth.duration_params_ = np.array([[r] for r in RATES])
    truth.emissions_ = list(truth.emission)
    X, _ = truth.sample(6000, random_state=1)

    hsmm = HSMM(Gaussian(), 3, duration="poisson", max_duration=60, n_iter=40,
                random_state=0).fit(X)
    hmm = emkit.HMM(Gaussian(), 3, n_iter=100, random_state=0).fit(X)
    by_mean_hsmm = np.argsort([float(e.mean[0]) for e in hsmm.emissions_])
    by_mean_hmm = np.argsort([float(e.mean[0]) for e in hmm.emissions_])

    d = np.arange(1, 61)
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.6), sharey=True, layout="constrained")
    for k, ax in enumerate(axes):
        true_pmf = poisson.pmf(d - 1, RATES[k])
        true_pmf /= true_pmf.sum()  # truncated at max_duration, as the model is
        stay = hmm.transmat_[by_mean_hmm[k], by_mean_hmm[k]]
        geometric = (1 - stay) * stay ** (d - 1)
        ax.bar(d, true_pmf, width=1.0, color="0.82", label="true durations")
        ax.plot(d, hsmm.durations_[by_mean_hsmm[k]], "o-", ms=3, color="C0",
                label="HSMM: fitted durations_")
        ax.plot(d, geometric, "s--", ms=3, color="C3",
                label="HMM: geometric from self-transition")
        mean_frames = RATES[k] + 1
        ax.set_title(f"state {k} (mean {MEANS[k]:g}, mean duration {mean_frames:g} frames)",
                     fontsize=10)
        ax.set_xlabel("duration d (frames)")
        ax.set_xlim(0.5, 40.5)
    axes[0].set_ylabel("P(duration = d)")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside upper center", ncol=3, frameon=False)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def input_driven_stationary(path: Path) -> None:
    """Stationary state probabilities of a fitted InputDrivenHMM against its covariate."""
    rng = np.random.default_rng(0)
    T = 5000
    u = rng.normal(size=(T, 1))
    coef = np.zeros((2, 2, 2))
    coef[0, 1] = [-2.0, 1.5]
    coef[1, 0] = [-1.5, -1.0]
    z = np.zeros(T, dtype=int)
    for t in range(1, T):
        logits = coef[z[t - 1], :, 0] + coef[z[t - 1], :, 1] * u[t, 0]
        p = np.exp(logits - logits.max())
        z[t] = rng.choice(2, p=p / p.sum())
    X = rng.normal(np.array([0.0, 3.0])[z], 1.0)[:, None]
    hmm = InputDrivenHMM(Gaussian(), 2, n_iter=200, tol=1e-6, random_state=0).fit(
        X, covariates=u)
    order = np.argsort([e.mean[0] for e in hmm.emissions_])

    grid = np.linspace(-3, 3, 121)[:, None]
    fitted = hmm.stationary_distribution(grid)[:, order]
    # the true chain's stationary probabilities, from the simulated coefficients
    true = np.empty_like(fitted)
    for i, g in enumerate(grid[:, 0]):
        logits = coef[:, :, 0] + coef[:, :, 1] * g
        P = np.exp(logits - logits.max(axis=1, keepdims=True))
        P /= P.sum(axis=1, keepdims=True)
        vals, vecs = np.linalg.eig(P.T)
        pi = np.real(vecs[:, np.argmin(np.abs(vals - 1))])
        true[i] = pi / pi.sum()

    fig, ax = plt.subplots(figsize=(6.4, 4), layout="constrained")
    for k, name in enumerate(("state 0 (mean 0)", "state 1 (mean 3)")):
        ax.plot(grid[:, 0], fitted[:, k], color=f"C{k}", lw=2, label=f"{name}, fitted")
        ax.plot(grid[:, 0], true[:, k], color=f"C{k}", lw=1, ls="--", label=f"{name}, true")
    lo, hi = np.quantile(u[:, 0], [0.025, 0.975])
    ax.axvspan(lo, hi, color="0.93", zorder=0, label="central 95 % of observed u")
    ax.set_xlabel("covariate u")
    ax.set_ylabel("stationary probability")
    ax.set_ylim(0, 1)
    ax.set_xlim(-3, 3)
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False, fontsize=9)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def bgm_weights(path: Path) -> None:
    """Fitted weights_ per component for several weight_concentration_prior values."""
    rng = np.random.default_rng(0)
    centres = np.array([[0.0, 0.0], [5.0, 0.0], [0.0, 5.0]])
    X = np.vstack([c + rng.normal(size=(300, 2)) for c in centres])
    priors = (1e-3, 1.0, 1e3)
    K = 8
    fig, ax = plt.subplots(figsize=(7, 3.8), layout="constrained")
    width = 0.8 / len(priors)
    for i, prior in enumerate(priors):
        bgm = BayesianGaussianMixture(
            n_components=K, weight_concentration_prior_type="dirichlet_distribution",
            weight_concentration_prior=prior, max_iter=500, random_state=0).fit(X)
        weights = np.sort(bgm.weights_)[::-1]
        used = int(np.sum(weights > 0.01))
        component = "component" if used == 1 else "components"
        ax.bar(np.arange(K) + (i - 1) * width, weights, width=width, color=f"C{i}",
               label=f"prior {prior:g}: {used} {component} above 1 %")
    ax.axhline(0.01, color="0.5", lw=0.8, ls=":")
    ax.set_xticks(np.arange(K), [str(k + 1) for k in range(K)])
    ax.set_xlabel("component (sorted by fitted weight)")
    ax.set_ylabel("fitted weights_")
    ax.set_title("three true clusters, n_components=8, Dirichlet weight prior", fontsize=10)
    ax.legend(loc="upper right", frameon=False, title="weight_concentration_prior")
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(out: Path = HERE) -> None:
    out.mkdir(parents=True, exist_ok=True)
    hsmm_durations(out / "hsmm_durations.png")
    input_driven_stationary(out / "input_driven_stationary.png")
    bgm_weights(out / "bgm_weights.png")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE)
