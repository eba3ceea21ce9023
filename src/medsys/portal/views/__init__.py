"""The portal's pages and its small JSON API."""
