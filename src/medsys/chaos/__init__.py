"""Fault scenarios against a live system, with measured figures (``medsys chaos``)."""
