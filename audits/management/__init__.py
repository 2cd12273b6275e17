"""Management commands of the audit domain."""
