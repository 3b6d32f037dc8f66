"""hmmlearn's test_gmm_hmm_new.py, run against emkit."""

from hmmlearn_swap import peer_module

import emkit

peer_module("test_gmm_hmm_new", GMMHMM=emkit.GMMHMM)

from hmmlearn.tests.test_gmm_hmm_new import *  # noqa: E402,F403
