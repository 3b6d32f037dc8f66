"""emkit.backends."""
