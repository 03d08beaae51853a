"""pytest-shipready: deployment readiness checks as part of the ordinary test suite.

Run ``pytest --shipready``. This package's modules import neither pytest nor docker
except :mod:`pytest_shipready.plugin` (the pytest glue).
"""

__version__ = "0.1.0"
