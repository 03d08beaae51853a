"""SR1xx lockfile checks: pip-compile (``requirements``, ``pipcompile``, ``resolve``),
Poetry (``poetry``), uv (``uv``, ``uvcheck``) and pylock.toml (``pylock``) as one model
(``model``, ``inputs``, ``toolchecks``, ``discover``, ``selection``); ``area`` plans the items.
"""
