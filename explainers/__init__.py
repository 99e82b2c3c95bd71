"""Built-in explainer plugins, registered through ``clarity_explainers`` like any plugin."""
