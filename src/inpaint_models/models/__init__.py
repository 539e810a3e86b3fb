"""Built-in model plugins, one folder each (registered through entry points)."""
