"""Tools for plugin authors."""
