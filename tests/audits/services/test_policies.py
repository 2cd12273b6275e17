"""Policies are versioned: an edit is a new version and audits keep the one they used."""
import pytest
from django.urls import reverse

from audits.checks.policy import DEFAULT_POLICY
from audits.errors import BadInput
from audits.models import Policy
from audits.services.policies import policy_current, policy_new_version


def test_default_policy_is_created_once(org):
    first = policy_current(organisation=org)
    assert first.version == 1 and first.thresholds == DEFAULT_POLICY["thresholds"]
    assert policy_current(organisation=org).pk == first.pk


def test_edit_creates_next_version_and_keeps_the_old(org, user):
    v1 = policy_current(organisation=org)
    v2 = policy_new_version(organisation=org, user=user,
                            thresholds={**v1.thresholds, "disparate_impact": {"low": 0.9, "high": 1.1}})
    assert v2.version == 2 and policy_current(organisation=org).pk == v2.pk
    v1.refresh_from_db()
    assert v1.thresholds["disparate_impact"] == {"low": 0.8, "high": 1.25}


@pytest.mark.parametrize("bad", [{}, {"di": {"low": 1}}, {"di": {"low": 2, "high": 1}}, {"di": {"low": "x", "high": 1}}])
def test_bad_thresholds_refused(org, bad):
    with pytest.raises(BadInput):
        policy_new_version(organisation=org, user=None, thresholds=bad)


def test_admin_edit_saves_a_new_version(admin_client, org):
    v1 = policy_current(organisation=org)
    url = reverse("admin:audits_policy_change", args=[v1.pk])
    response = admin_client.post(url, {"organisation": org.pk, "name": "default",
                                       "thresholds": '{"disparate_impact": {"low": 0.85, "high": 1.2}}'})
    assert response.status_code == 302
    assert list(Policy.objects.values_list("version", flat=True).order_by("version")) == [1, 2]
    v1.refresh_from_db()
    assert v1.thresholds == DEFAULT_POLICY["thresholds"]
