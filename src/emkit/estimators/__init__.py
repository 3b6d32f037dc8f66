"""scikit-learn-style estimators: thin adapters that validate, build a model, call the engine."""
