"""scikit-learn / hmmlearn-style estimators: thin adapters that validate, build a model,
call the engine and copy the result to fitted attributes.

One public class per module (``gaussian_mixture``, ``mixture_model``,
``mclust_mixture``, ``regression_mixture``, ``imputer``, ``dawid_skene``,
``selection``; the HMMs in ``hmm`` (GaussianHMM, and the hmmlearn names of
``hmm_gmm`` and ``hmm_counts``) and ``hmm_distribution`` (:class:`emkit.HMM`),
sharing ``hmm_base``); private ``_*.py`` modules hold the mixins and helpers of
one of them.

May import every layer below (backends, models, distributions, gaussian,
numerics, engine) and the top-level utilities; never the command line.
"""
