"""medsys: a distributed medical management system."""

__version__ = "0.1.0"
