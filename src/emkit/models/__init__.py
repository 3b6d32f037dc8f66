"""EMModel implementations: the math of each model, independent of any estimator."""
