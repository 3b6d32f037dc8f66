"""emkit.distributions."""
