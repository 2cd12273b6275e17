"""The browser front door: views by area, one urls.py, one forms.py (api/ is the other door).

Every view has the same shape: an access helper from audits/access.py, early returns,
one service call, render.
"""
