"""hmmlearn's test_poisson_hmm.py, run against emkit."""

from hmmlearn_swap import peer_module

peer_module("test_poisson_hmm")

from hmmlearn.tests.test_poisson_hmm import *  # noqa: E402,F403
