"""``mlflow-clarity serve``: MLflow's scoring app with data capture and online explanations."""
