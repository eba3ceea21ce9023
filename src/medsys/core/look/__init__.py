"""One look for every page medsys serves (the portal's, which staff pages share): the
stylesheet ships in the package and is served by each Flask app from here, no CDN."""

from __future__ import annotations

from flask import Blueprint


def blueprint() -> Blueprint:
    return Blueprint("look", __name__, static_folder="static", static_url_path="/look")
