"""The Flask app gunicorn serves: /health, /orders/<id>, 404s, all logged as JSON."""

from __future__ import annotations

import os

import structlog
from flask import Flask, jsonify

from .logconfig import configure

configure()
log = structlog.get_logger("app")


def create_app() -> Flask:
    app = Flask(__name__)
    app.config["REGION"] = os.environ.get("REGION", "eu-west-1")

    @app.get("/health")
    def health():  # type: ignore[no-untyped-def]
        return jsonify(status="ok")

    @app.get("/orders/<int:order_id>")
    def order(order_id: int):  # type: ignore[no-untyped-def]
        log.info("order_read", order_id=order_id)
        return jsonify(id=order_id, region=app.config["REGION"])

    @app.errorhandler(404)
    def not_found(error):  # type: ignore[no-untyped-def]
        log.warning("not_found")
        return jsonify(error="not found"), 404

    return app


app = create_app()
