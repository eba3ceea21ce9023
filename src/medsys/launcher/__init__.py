"""The `medsys` launcher: runs the whole system as supervised local processes."""
