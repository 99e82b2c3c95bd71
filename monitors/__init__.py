"""Built-in monitor plugins, registered through ``clarity_monitors`` like any plugin."""
