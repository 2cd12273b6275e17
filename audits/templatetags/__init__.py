"""Template tags of the audit domain."""
