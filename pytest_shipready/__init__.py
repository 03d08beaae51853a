"""pytest-shipready: deployment readiness checks as part of the ordinary test suite.

Run ``pytest --shipready``. The layout (docs/architecture.md):

- ``plugin.py``: the pytest glue (options, items, terminal, fixtures); ``plan.py``: which
  areas run, in order.
- ``checks.py`` (the types every area uses), ``config.py``, ``catalog.py``, ``report.py``,
  ``secrets.py`` (one definition of a secret), ``starter.py``: the shared core.
- ``locks/`` SR1xx, ``dockerfile/`` SR20x, ``container/`` SR21x-SR4xx, ``logs/`` SR5xx: one
  folder per check family, its pure logic beside one ``area.py`` that plans its items.

Only :mod:`pytest_shipready.container.engine` imports docker and testcontainers, and
nothing heavy is imported without ``--shipready``.
"""

__version__ = "0.1.0"
