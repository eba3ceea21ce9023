"""The admin API, one router per area."""
