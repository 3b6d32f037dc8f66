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
    Gaussian-mixture states with hmmlearn's ``GMMHMM`` updates.

May import :mod:`emkit.distributions`, :mod:`emkit.gaussian`,
:mod:`emkit.numerics` and :mod:`emkit.engine`.
"""
