"""Safe handling of uploaded model archives and data tables."""
