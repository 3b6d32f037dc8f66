"""hmmlearn's test_multinomial_hmm.py, run against emkit."""

from hmmlearn_swap import peer_module

peer_module("test_multinomial_hmm")

from hmmlearn.tests.test_multinomial_hmm import *  # noqa: E402,F403
