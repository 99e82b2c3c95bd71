"""Hook specifications (the plugin contract) and the hooks into MLflow."""
