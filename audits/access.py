"""Access rules in one place: every object is fetched through the user's organisation.

Another organisation's object is a 404, never a 403, so its existence does not leak.
"""
from __future__ import annotations

from functools import wraps

from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import get_object_or_404

from audits.models import Audit, Dataset, ModelArtifact, Organisation


def member_required(view):
    """Logged in and a member of an organisation; sets request.organisation."""

    @login_required
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        membership = getattr(request.user, "membership", None)
        if membership is None:
            raise Http404("No organisation")
        request.organisation = membership.organisation
        return view(request, *args, **kwargs)

    return wrapper


def org_models(organisation: Organisation):
    return ModelArtifact.objects.for_org(organisation)


def org_datasets(organisation: Organisation):
    return Dataset.objects.for_org(organisation)


def org_audits(organisation: Organisation):
    return Audit.objects.for_org(organisation).select_related("model", "dataset")


def get_model(request, pk: int) -> ModelArtifact:
    return get_object_or_404(org_models(request.organisation), pk=pk)


def get_dataset(request, pk: int) -> Dataset:
    return get_object_or_404(org_datasets(request.organisation), pk=pk)


def get_audit(request, pk: int) -> Audit:
    return get_object_or_404(org_audits(request.organisation), pk=pk)
