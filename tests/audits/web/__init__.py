"""Tests of the web layer (audits/web/): views, urls, forms and the access rules they apply."""
