"""hmmlearn's test_gaussian_hmm.py, run against emkit."""

from hmmlearn_swap import peer_module

peer_module("test_gaussian_hmm")

from hmmlearn.tests.test_gaussian_hmm import *  # noqa: E402,F403
