"""acme-clarity: an example third-party plugin for mlflow-clarity (see ``plugin.py``)."""
