"""Models of labels from several raters with no gold standard (Dawid-Skene).

May import :mod:`emkit.numerics`, :mod:`emkit.engine` and :mod:`emkit.exceptions`.
"""
