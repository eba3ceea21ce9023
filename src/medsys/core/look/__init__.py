"""One look for every page medsys serves (the portal's, which staff pages share): the
layout template (``look/layout.html``, which each app's ``base.html`` extends) and the
stylesheet ship in the package and are served by each app from here, no CDN. The layout
asks its app for two things: ``stylesheet`` (the sheet's URL) and ``flashed()`` (the
messages to show once)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Blueprint, Flask, get_flashed_messages, url_for

STATIC = Path(__file__).parent / "static"


def blueprint() -> Blueprint:
    return Blueprint(
        "look",
        __name__,
        static_folder="static",
        static_url_path="/look",
        template_folder="templates",
    )


def install(app: Flask) -> None:
    """The look in a Flask app: its static files, templates and what the layout asks for."""
    app.register_blueprint(blueprint())

    @app.context_processor
    def layout() -> dict[str, Any]:
        return {
            "stylesheet": url_for("look.static", filename="medsys.css"),
            "flashed": lambda: get_flashed_messages(with_categories=True),
        }
