"""Shared core: settings, topology, database routing, RUT, tokens, audit."""
