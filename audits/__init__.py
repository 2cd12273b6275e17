"""The audit domain: uploads, the model runtime, checks, reports, views and tasks."""
