"""Tests of audits/services/: one file per service module or flow."""
