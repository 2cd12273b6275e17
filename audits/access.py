"""Access rules in one place: every object is fetched through the user's organisation,
and every view names the verb it needs; the role decides which verbs a person has.

Another organisation's object, or a verb the role lacks, is a 404, never a 403, so the
existence of the object does not leak. Regulators hold no verb here: they see only the
reports shared with them, through `shared_audits`.
"""
from __future__ import annotations

from functools import wraps

from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import get_object_or_404

from audits.models import Audit, Dataset, Membership, MitigationRun, ModelArtifact, Organisation

Role = Membership.Role
# read: the organisation's models, datasets, audits and reports; upload: models and
# datasets; audit: start audits; mitigate: start debiasing runs; review: approve,
# reject, request changes; share: share an approved report with a regulator;
# manage: users, roles, policies.
ROLE_VERBS: dict[str, frozenset[str]] = {
    Role.DATA_SCIENTIST: frozenset({"read", "upload", "audit", "mitigate"}),
    Role.COMPLIANCE: frozenset({"read", "review", "share"}),
    Role.ADMIN: frozenset({"read", "upload", "audit", "mitigate", "manage"}),
    Role.REGULATOR: frozenset(),
}


def _membership(user) -> Membership | None:
    return getattr(user, "membership", None) if user.is_authenticated else None


def user_can(user, verb: str) -> bool:
    membership = _membership(user)
    return membership is not None and verb in ROLE_VERBS.get(membership.role, frozenset())


def is_regulator(user) -> bool:
    """The regulator role: no verb here, only the portal of reports shared with them."""
    membership = _membership(user)
    return membership is not None and membership.role == Role.REGULATOR


def requires(verb: str):
    """Logged in, a member of an organisation and a role holding `verb`; sets
    request.organisation. Anything else is a 404."""

    def decorate(view):
        @login_required
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            if not user_can(request.user, verb):
                raise Http404("Not found")
            request.organisation = request.user.membership.organisation
            return view(request, *args, **kwargs)

        return wrapper

    return decorate


def member_required(view):
    """The common case: a role that may read its organisation's data."""
    return requires("read")(view)


def regulator_required(view):
    """Logged in with the regulator role; sets request.organisation to theirs."""

    @login_required
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not is_regulator(request.user):
            raise Http404("Not found")
        request.organisation = request.user.membership.organisation
        return view(request, *args, **kwargs)

    return wrapper


def shared_audits(user):
    """The audits shared with a regulator: frozen (signed) and shared with this user."""
    return Audit.objects.filter(shares__regulator=user, signed__isnull=False).select_related("model", "dataset")


def org_models(organisation: Organisation):
    return ModelArtifact.objects.for_org(organisation)


def org_datasets(organisation: Organisation):
    return Dataset.objects.for_org(organisation)


def org_audits(organisation: Organisation):
    return Audit.objects.for_org(organisation).select_related("model", "dataset")


def org_mitigations(organisation: Organisation):
    return MitigationRun.objects.for_org(organisation).select_related("audit__model", "audit__dataset",
                                                                      "result_model")


def get_model(request, pk: int) -> ModelArtifact:
    return get_object_or_404(org_models(request.organisation), pk=pk)


def get_dataset(request, pk: int) -> Dataset:
    return get_object_or_404(org_datasets(request.organisation), pk=pk)


def get_audit(request, pk: int) -> Audit:
    return get_object_or_404(org_audits(request.organisation), pk=pk)


def get_mitigation(request, pk: int) -> MitigationRun:
    return get_object_or_404(org_mitigations(request.organisation), pk=pk)


def get_shared_audit(request, pk: int) -> Audit:
    """A report shared with the requesting regulator; anything else is a 404."""
    return get_object_or_404(shared_audits(request.user).select_related("signed", "organisation"), pk=pk)
