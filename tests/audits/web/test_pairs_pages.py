"""The web's mapping step for sentence pairs, and the new-audit form that follows it."""
from __future__ import annotations

import re

from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from audits.models import Dataset
from tests.factories import make_user
from tests.lm_factories import PAIRS_CSV


def _upload(client) -> str:
    response = client.post(reverse("audits:dataset_upload"), {
        "name": "pairs", "file": SimpleUploadedFile("pairs.csv", PAIRS_CSV.read_bytes())})
    return response["Location"]


def test_pairs_are_mapped_in_the_mapping_step_and_the_audit_form_starts_with_the_probe(client_in):
    map_url = _upload(client_in)
    page = client_in.get(map_url).content.decode()
    # The CrowS-Pairs column names are guessed, and the section is open for them.
    assert re.search(r'<details class="card" id="pairs-mapping" open>', page)
    assert re.search(r'<option value="sent_more" selected>', page)
    response = client_in.post(map_url, {"pairs-more_column": "sent_more", "pairs-less_column": "sent_less",
                                        "pairs-bias_type_column": "bias_type", "pairs-direction_column": "direction"})
    assert response.status_code == 302
    dataset = Dataset.objects.get()
    assert dataset.mapping == {"kind": "pairs", "more_column": "sent_more", "less_column": "sent_less",
                               "bias_type_column": "bias_type", "direction_column": "direction"}
    form = client_in.get(response["Location"]).content.decode()
    checked = re.findall(r'value="([a-z_]+)"[^>]*checked', form)
    assert checked == ["stereotype_pairs"]


def test_a_bad_pairs_mapping_is_shown_and_not_saved(client_in):
    map_url = _upload(client_in)
    response = client_in.post(map_url, {"pairs-more_column": "sent_more", "pairs-less_column": "sent_more"})
    assert response.status_code == 200
    assert "mapped to two roles" in response.content.decode()
    assert Dataset.objects.get().mapping is None


def test_another_organisations_dataset_cannot_be_mapped_as_pairs(client_in, client, other_org):
    map_url = _upload(client_in)
    client.force_login(make_user("eve", other_org))
    response = client.post(map_url, {"pairs-more_column": "sent_more", "pairs-less_column": "sent_less"})
    assert response.status_code == 404
    assert Dataset.objects.get().mapping is None
