"""Database failover: persisted pair state, the pure decision, and the monitor loop."""
