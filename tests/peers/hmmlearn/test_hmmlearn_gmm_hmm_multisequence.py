"""hmmlearn's test_gmm_hmm_multisequence.py, run against emkit."""

from hmmlearn_swap import peer_module

peer_module("test_gmm_hmm_multisequence")

from hmmlearn.tests.test_gmm_hmm_multisequence import *  # noqa: E402,F403
