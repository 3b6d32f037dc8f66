"""Textbook EM problems written directly against the :class:`emkit.EMModel` protocol.

The shortest complete models, with answers known in closed form or published;
they anchor the engine's tests and are the first thing to read when writing a
model of your own. May import :mod:`emkit.engine` only.

The exception is :mod:`emkit.examples.speech`, spoken-digit recognition with
:class:`emkit.GMMHMM`: an application of the estimators (``emkit demo speech``).
"""
