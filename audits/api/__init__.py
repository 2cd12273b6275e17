"""REST API over the same services as the web views: uploads, mapping, audits, reports, CI gate."""
