"""Tests of audits/uploads/: archives and tables read safely."""
