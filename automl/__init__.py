"""CNN architecture search with Keras 3, Optuna and MLflow."""
