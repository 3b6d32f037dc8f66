"""The hidden Markov model as an :class:`emkit.EMModel`.

``model.py``
    Baum-Welch on the engine: the sequences container, the E-step over blocks
    of sequences, the transition M-step, decoding.
``recursions.py``
    Compiled scaled forward-backward (weighted sequences in one call) and Viterbi.
``recursions_reference.py``
    Their NumPy references, in log space.
``emission.py``
    What a state emits: the :class:`~emkit.models.hmm.emission.Emission`
    interface and its implementation by any :mod:`emkit.distributions`
    family (the same :class:`~emkit.distributions.components.Components`
    code as a mixture's components), used by :class:`emkit.HMM`,
    ``GaussianHMM``, ``CategoricalHMM`` and ``PoissonHMM``.
``gmm_emission.py``
    Gaussian-mixture states with hmmlearn's ``GMMHMM`` updates; ``gmm_shortfall.py``
    how far that update falls short of EM's exact M-step.
``gaussian_fused.py``, ``gaussian_columns.py``, ``vec_mat.py``
    The one-pass Gaussian-state E-step per sequence (frame densities, scaled
    forward-backward, statistics), its frames-innermost density and moment loops,
    and the generated vector-matrix products of the recursions.
``supervision.py``, ``masked_emission.py``, ``masked_gaussian.py``, ``gmm_masks.py``
    Per-frame evidence and frozen start/transition entries; emissions with some
    per-state entries frozen (rates, probabilities, Gaussian means and
    covariances, GMM-HMM weights/means/covariances).
``semi_markov.py``, ``semi_markov_durations.py``, ``semi_markov_recursions.py``
    The explicit-duration hidden semi-Markov model, its duration families and its
    compiled recursions.
``input_driven.py``, ``input_driven_recursions.py``
    Transitions as a multinomial logit of covariates, and the recursions of a
    transition matrix that changes at every step.

May import :mod:`emkit.distributions`, :mod:`emkit.gaussian`,
:mod:`emkit.numerics` and :mod:`emkit.engine`.
"""
