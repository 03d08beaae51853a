"""A small Flask service as teams write them: Flask behind gunicorn, structlog JSON logs."""
