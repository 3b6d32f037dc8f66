"""The hidden Markov model as an :class:`emkit.EMModel`.

``model.py``
    Baum-Welch on the engine: the sequences container, the E-step over blocks
    of sequences, the transition M-step, decoding.
``recursions.py``
    Compiled scaled forward-backward and Viterbi, with NumPy references.
``emissions.py``
    The emission families a state can have (each built on an
    :mod:`emkit.distributions` family where one exists).
``gaussian_kernels.py``
    Compiled Gaussian-state log-densities and posterior-weighted moments.

May import :mod:`emkit.distributions`, :mod:`emkit.gaussian`,
:mod:`emkit.numerics` and :mod:`emkit.engine`.
"""
