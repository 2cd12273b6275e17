"""The page where a logged-in person creates or replaces their API token.

The key is shown once, in the response to the POST that made it (CSRF-protected, never
cached); afterwards the page only says when the current token was created.
"""
from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from audits.api.tokens import token_created, token_rotate


@login_required
@never_cache
@require_http_methods(["GET", "POST"])
def token_view(request):
    key = token_rotate(user=request.user) if request.method == "POST" else None
    return render(request, "audits/account_token.html", {
        "key": key, "created": token_created(user=request.user),
    })
