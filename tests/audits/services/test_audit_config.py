"""audit_config_build: the web form and the API build an audit's settings the same way,
and a caller that names no checks gets DEFAULT_CHECKS."""
from __future__ import annotations

import pytest
from django.urls import reverse

from audits.errors import BadInput
from audits.models import Audit
from audits.services.audit_config import DEFAULT_CHECKS, audit_config_build, seed_validate
from tests.factories import people_dataset


def test_omitted_checks_get_the_one_default_and_the_mapping_is_kept(org, user):
    dataset = people_dataset(org, user, rows=40)
    config = audit_config_build(dataset=dataset, seed=4)
    assert config == {**dataset.mapping, "checks": ["group_fairness"], "seed": 4, "explain": 0}
    assert list(DEFAULT_CHECKS) == ["group_fairness"]
    twin = audit_config_build(dataset=dataset, checks=["all"], counterfactual_dataset=dataset,
                              counterfactual_id_column="id")
    assert twin["checks"] == ["all"] and twin["counterfactual"] == {"dataset": dataset.pk, "id_column": "id"}


def test_the_web_form_and_the_api_store_the_same_config(client_in, org, user, model):
    dataset = people_dataset(org, user, rows=40)
    web = client_in.post(reverse("audits:audit_new"), {"model": model.pk, "dataset": dataset.pk,
                                                       "checks": ["group_fairness"], "seed": 3, "explain": 0})
    assert web.status_code == 302, web.content.decode()[:2000]
    # The API without "checks": the default is the same single check the web form sent.
    api = client_in.post(reverse("api:audit-list"), {"model": model.pk, "dataset": dataset.pk, "seed": 3},
                         content_type="application/json")
    assert api.status_code == 201, api.content
    first, second = Audit.objects.order_by("pk")
    assert first.config == second.config
    assert first.config["checks"] == list(DEFAULT_CHECKS)


def test_the_seed_is_a_whole_number_for_classifier_and_probe_audits_alike():
    assert seed_validate("7") == 7 and seed_validate(3) == 3
    for bad in ("seven", None, "1.5"):
        with pytest.raises(BadInput, match="The seed must be a whole number"):
            seed_validate(bad)
