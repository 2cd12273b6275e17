"""Fixtures of the audit tests: the tiny model registered in the user's organisation, and
a finished audit frozen (signed) with a key of the test's own (signing service and pages)."""
import pytest

from audits.models import Audit
from audits.reports import report_build
from audits.services.manifest import audit_manifest
from audits.services.model_uploads import model_register_folder
from audits.services.signing import report_freeze
from tests.factories import people_audit, people_dataset


@pytest.fixture
def model(org, user, tiny_model_dir):
    return model_register_folder(organisation=org, user=user, name="tiny", folder=tiny_model_dir)


@pytest.fixture
def signing_key(settings, tmp_path):
    """A key file made on first use under tmp_path; none from the environment."""
    settings.SIGNING_KEY = ""
    settings.SIGNING_KEY_PATH = tmp_path / "keys" / "signing_key.pem"


@pytest.fixture
def finished(org, user, model):
    """A finished audit whose report is built from a check result (no model run); its text
    column is named with markup, for the pages that must escape it."""
    figure = {"value": 0.7, "ci_low": 0.6, "ci_high": 0.8, "threshold": {"low": 0.8, "high": 1.25},
              "status": "fail", "group": "female"}
    check = {"id": "group_fairness", "attribute": "gender", "status": "fail", "message": "Finding.",
             "metrics": {"disparate_impact": figure},
             "groups": {"female": {"selection_rate": 0.28, "count": 50.0},
                        "privileged: male": {"selection_rate": 0.4, "count": 70.0}}}
    audit = people_audit(org, user, model, people_dataset(org, user), label_column="label")
    audit.config = {**audit.config, "text_column": "<script>alert(1)</script>"}
    policy = audit.policy.as_dict()
    audit.status = Audit.Status.DONE
    audit.report = report_build(audit=audit, checks=[check], policy=policy, platform_version="test",
                                manifest=audit_manifest(audit=audit, policy=policy))
    audit.save()
    return audit


@pytest.fixture
def frozen(finished, user, signing_key):
    """The finished audit's report, frozen and signed."""
    return report_freeze(audit=finished, user=user)
