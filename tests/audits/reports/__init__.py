"""Tests of audits/reports/: the report document, its HTML, PDF, charts and sections."""
