"""The clinical API's blueprints, one per area."""
