"""Views: access check, one service call, render."""
from django.contrib.auth.decorators import login_required
from django.shortcuts import render


@login_required
def home(request):
    return render(request, "audits/home.html", {})
