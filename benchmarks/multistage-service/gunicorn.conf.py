# gunicorn's own logs (startup, access, errors, shutdown) as JSON, through structlog.
from app.logconfig import LOGGING

bind = "0.0.0.0:8000"
workers = 2
logconfig_dict = LOGGING
accesslog = "-"
