"""One module per check area; each exposes plan(settings, options, context)."""
