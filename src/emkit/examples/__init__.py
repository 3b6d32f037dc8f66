"""Textbook EM problems written directly against the :class:`emkit.EMModel` protocol.

The shortest complete models, with answers known in closed form or published;
they anchor the engine's tests and are the first thing to read when writing a
model of your own. May import :mod:`emkit.engine` only.
"""
