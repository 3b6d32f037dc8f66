"""hmmlearn's test_gmm_hmm.py, run against emkit."""

from hmmlearn_swap import peer_module

peer_module("test_gmm_hmm")

from hmmlearn.tests.test_gmm_hmm import *  # noqa: E402,F403
