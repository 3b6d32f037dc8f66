"""hmmlearn's test_categorical_hmm.py, run against emkit."""

from hmmlearn_swap import peer_module

peer_module("test_categorical_hmm")

from hmmlearn.tests.test_categorical_hmm import *  # noqa: E402,F403
