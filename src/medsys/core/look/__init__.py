"""One look for every page medsys serves (the portal's, which staff pages share): the
layout template (``look/layout.html``, which each app's ``base.html`` extends) and the
stylesheet ship in the package and are served by each Flask app from here, no CDN."""

from __future__ import annotations

from flask import Blueprint


def blueprint() -> Blueprint:
    return Blueprint(
        "look",
        __name__,
        static_folder="static",
        static_url_path="/look",
        template_folder="templates",
    )
