"""Middleware: the one door from the portal to clinical and admin data."""
