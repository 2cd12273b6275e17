"""Role x object x verb: every URL of the project, for every role, on its own and on
another organisation's objects, with GET and POST.

Allowed is 200/302 (or 405 for a method the endpoint lacks); denied is a 404 whose page
names nothing of the object; no 200 page shows another organisation's names. A named
URL missing from MATRIX fails `test_every_url_is_in_the_matrix`, so a new endpoint
cannot ship without its row here. Django's admin (namespace "admin") is checked as a
whole: nobody without is_staff gets past its login page.
"""
from __future__ import annotations

from dataclasses import dataclass

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from audits.models import DemoBuild, Membership, MitigationRun, Organisation, ReportShare
from audits.services.audits import audit_run
from audits.services.model_uploads import model_register_folder
from audits.services.reviews import report_share, review_decide
from tests.factories import make_user, people_audit, people_dataset

DS, CO, ADM, DSB, REG, REG0, ANON = "ds_a", "co_a", "admin_a", "ds_b", "reg_shared", "reg_unshared", "anon"
ROLES = (DS, CO, ADM, DSB, REG, REG0, ANON)
KIND = {DS: "ds", CO: "co", ADM: "admin", DSB: "ds", REG: "reg", REG0: "reg"}
ORG = {DS: "A", CO: "A", ADM: "A", DSB: "B"}
NAMES = {"A": ("alpha-secret-model", "alpha-secret-dataset"), "B": ("bravo-secret-model", "bravo-secret-dataset")}
HIDDEN = {DS: NAMES["B"], CO: NAMES["B"], ADM: NAMES["B"], DSB: NAMES["A"], REG: NAMES["B"],
          REG0: NAMES["A"] + NAMES["B"], ANON: NAMES["A"] + NAMES["B"]}

READ, UPLOAD, REVIEW = frozenset({"ds", "co", "admin"}), frozenset({"ds", "admin"}), frozenset({"co"})
REGULATOR, ANYONE = frozenset({"reg"}), frozenset({"ds", "co", "admin", "reg"})
BOTH, GET, POST = ("GET", "POST"), ("GET",), ("POST",)


@dataclass(frozen=True)
class E:
    """One URL: the object it takes, the role kinds allowed, the methods it accepts."""

    name: str
    obj: str | None = None  # model / dataset / audit / mitigation / compare (query string)
    who: frozenset = READ
    post_who: frozenset | None = None  # when POST needs another verb than GET
    lacking_who: frozenset | None = None  # who gets 405 for a method the URL lacks (default: `who`)
    methods: tuple = BOTH
    kw: tuple = ()
    anon: str = "login"  # login: redirected to log in; 401: the API; public: served
    ok: frozenset = frozenset({200, 302})


MATRIX = [
    E("login", anon="public", who=ANYONE),
    # Verifying a signed report needs no account; an empty POST is refused input (400).
    E("audits:verify_report", who=ANYONE, anon="public", ok=frozenset({200, 400})),
    E("audits:signing_key", who=ANYONE, methods=GET, anon="public"),
    E("audits:signing_key_pem", who=ANYONE, methods=GET, anon="public"), E("logout", who=ANYONE, methods=POST, anon="public"),
    # `/` is every role's home: a regulator's is redirected to their shared reports.
    E("audits:home", who=ANYONE), E("audits:start", who=ANYONE, anon="login"),
    E("audits:demo_progress"), E("audits:notices", who=ANYONE),
    E("audits:model_upload", who=UPLOAD), E("audits:model_detail", "model"),
    E("audits:dataset_upload", who=UPLOAD), E("audits:dataset_map", "dataset", who=UPLOAD),
    E("audits:audit_new", who=UPLOAD), E("audits:lexicon", who=UPLOAD),
    # Every object here is in use or signed: a POST is refused (302 with the reason), nothing goes.
    E("audits:model_delete", "model", who=UPLOAD), E("audits:dataset_delete", "dataset", who=UPLOAD),
    E("audits:audit_delete", "audit", who=UPLOAD),
    E("audits:audit_detail", "audit"), E("audits:audit_progress", "audit"), E("audits:audit_report", "audit"),
    E("audits:audit_compression", "audit", methods=GET),  # the audit compresses its model (int8), see _org
    E("audits:audit_rerun", "audit", who=UPLOAD), E("audits:audit_signoff", "audit", methods=GET),
    *[E("audits:audit_download", "audit", kw=(("kind", k),)) for k in ("pdf", "json", "csv", "html")],
    E("audits:review_queue", who=REVIEW, methods=GET), E("audits:audit_compare", methods=GET),
    E("audits:audit_compare", "compare", methods=GET),
    E("audits:audit_review", "audit", who=REVIEW, methods=POST),
    E("audits:audit_share", "audit", who=REVIEW, methods=POST),
    E("audits:audit_trail_csv", "audit", methods=GET),
    E("audits:regulator_home", who=REGULATOR, methods=GET),
    E("audits:regulator_report", "audit", who=REGULATOR, methods=GET),
    *[E("audits:regulator_download", "audit", who=REGULATOR, methods=GET, kw=(("kind", k),)) for k in ("pdf", "json")],
    E("audits:mitigation_start", "audit", who=UPLOAD, methods=POST),
    E("audits:mitigation_detail", "mitigation"), E("audits:mitigation_progress", "mitigation"),
    E("audits:mitigation_cancel", "mitigation", who=UPLOAD, methods=POST),
    # The API: 401 without credentials; an empty POST is refused input (400, or 415 for JSON-only ones).
    E("api:model-list", post_who=UPLOAD, anon="401", ok=frozenset({200, 400, 415})),
    E("api:model-detail", "model", methods=GET, anon="401"),
    E("api:dataset-list", post_who=UPLOAD, anon="401", ok=frozenset({200, 400, 415})),
    E("api:dataset-detail", "dataset", methods=GET, anon="401"),
    # The API answers a lacking method with 405 to every reader (access.user_can "read").
    E("api:dataset-mapping", "dataset", who=UPLOAD, methods=POST, anon="401", ok=frozenset({400, 415}),
      lacking_who=READ),
    E("api:audit-list", post_who=UPLOAD, anon="401", ok=frozenset({200, 400, 415})),
    E("api:audit-detail", "audit", methods=GET, anon="401"),
    E("api:audit-report-json", "audit", methods=GET, anon="401"),
    E("api:audit-report-pdf", "audit", methods=GET, anon="401"),
    # The gate answers with the verdict: 409 (fails, errored or inconclusive) is access granted too.
    E("api:audit-gate", "audit", methods=GET, anon="401", ok=frozenset({200, 409})),
    E("api:schema", who=ANYONE, methods=GET, anon="401"),
    E("api:account-token", who=ANYONE),
]


def _url_names(resolver=None, namespace: str = "") -> set[str]:
    names = set()
    for item in (resolver or get_resolver()).url_patterns:
        if isinstance(item, URLResolver):
            inner = ":".join(filter(None, [namespace, item.namespace]))
            names |= _url_names(item, inner)
        elif isinstance(item, URLPattern):
            names.add(f"{namespace}:{item.name}" if namespace else str(item.name))
    return names


def test_every_url_is_in_the_matrix():
    listed = {e.name for e in MATRIX}
    missing = sorted(n for n in _url_names() if n not in listed and not n.startswith("admin:"))
    assert not missing, f"URL names with no row in the role matrix: {missing}"
    assert not listed - _url_names(), f"matrix rows for URLs that no longer exist: {sorted(listed - _url_names())}"


def _org(name: str, prefix: str, tiny_model_dir, reviewer):
    org = reviewer.membership.organisation
    uploader = make_user(f"{prefix}-uploader", org)
    model = model_register_folder(organisation=org, user=uploader, name=f"{prefix}-secret-model", folder=tiny_model_dir)
    dataset = people_dataset(org, uploader)
    dataset.name = f"{prefix}-secret-dataset"
    dataset.save(update_fields=["name"])
    audits = []
    for seed in (3, 4):
        audit = people_audit(org, uploader, model, dataset, seed=seed, **({"compress": "int8"} if seed == 3 else {}))
        audits.append(audit_run(audit_id=audit.pk, resamples=50))
    assert all(a.status == "done" for a in audits), [a.error for a in audits]
    review_decide(audit=audits[0], user=reviewer, decision="approve", comment="fine")
    run = MitigationRun.objects.create(organisation=org, audit=audits[0], method="reweighing",
                                       attribute="gender", status="done")
    DemoBuild.objects.create(organisation=org, stage="training the demo model, epoch 1 of 3")
    return {"model": model.pk, "dataset": dataset.pk, "audit": audits[0].pk, "audit2": audits[1].pk,
            "mitigation": run.pk}


@pytest.fixture
def world(db, tiny_model_dir):
    org_a, org_b = Organisation.objects.create(name="Alpha"), Organisation.objects.create(name="Bravo")
    body = Organisation.objects.create(name="Regulator body")
    users = {DS: make_user(DS, org_a), CO: make_user(CO, org_a, Membership.Role.COMPLIANCE),
             ADM: make_user(ADM, org_a, Membership.Role.ADMIN), DSB: make_user(DSB, org_b),
             REG: make_user(REG, body, Membership.Role.REGULATOR),
             REG0: make_user(REG0, body, Membership.Role.REGULATOR)}
    objects = {"A": _org("Alpha", "alpha", tiny_model_dir, users[CO]),
               "B": _org("Bravo", "bravo", tiny_model_dir, make_user("co_b", org_b, Membership.Role.COMPLIANCE))}
    from audits.models import Audit

    report_share(audit=Audit.objects.get(pk=objects["A"]["audit"]), user=users[CO], regulator_username=REG)
    # Shared by hand but never signed: still invisible to the regulator.
    ReportShare.objects.create(audit_id=objects["A"]["audit2"], regulator=users[REG], shared_by=users[CO])
    return users, objects


def _expected(entry: E, role: str, owner: str | None, method: str) -> set[int]:
    if role == ANON:
        return {"login": {302}, "401": {401}, "public": set(entry.ok) if method in entry.methods else {405}}[entry.anon]
    kind = KIND[role]
    if method not in entry.methods and entry.lacking_who is not None:
        return {405} if kind in entry.lacking_who else {404}
    if kind not in (entry.post_who if method == "POST" and entry.post_who else entry.who):
        return {404}
    if method not in entry.methods:
        # Refused before any object is looked up: the same for every pk (see
        # test_wrong_method_does_not_depend_on_the_object), so it reveals nothing.
        return {405}
    if owner is not None and not (owner == "A" if kind == "reg" and role == REG
                                  else kind != "reg" and ORG[role] == owner):
        return {404}
    return set(entry.ok)


def _request(client: Client, entry: E, owner: str | None, objects: dict, method: str):
    if entry.obj == "compare":
        ids = objects[owner]
        url = reverse(entry.name) + f"?a={ids['audit']}&b={ids['audit2' if owner == 'A' else 'audit']}"
    elif entry.obj:
        url = reverse(entry.name, kwargs={"pk": objects[owner][entry.obj], **dict(entry.kw)})
    else:
        url = reverse(entry.name, kwargs=dict(entry.kw))
    return url, (client.get(url) if method == "GET" else client.post(url))


def _body(response) -> str:
    raw = b"".join(response.streaming_content) if response.streaming else response.content
    return raw.decode("utf-8", "replace")


def test_role_matrix(world):
    users, objects = world
    failures = []
    for role in ROLES:
        client = Client()
        for entry in MATRIX:
            for owner in (("A", "B") if entry.obj else (None,)):
                for method in ("GET", "POST"):
                    if role != ANON:
                        client.force_login(users[role])  # logout (a row here) ends the session
                    url, response = _request(client, entry, owner, objects, method)
                    expected = _expected(entry, role, owner, method)
                    body = _body(response)
                    if response.status_code not in expected:
                        failures.append(f"{role} {method} {url}: {response.status_code}, expected {sorted(expected)}")
                    hidden = NAMES["A"] + NAMES["B"] if expected == {404} else HIDDEN[role]
                    if leaked := [n for n in hidden if n in body]:
                        failures.append(f"{role} {method} {url}: {response.status_code} shows {leaked}")
    assert not failures, "\n".join(failures)


def test_regulator_sees_only_signed_shared_reports(world, client):
    users, objects = world
    client.force_login(users[REG])
    assert client.get(reverse("audits:regulator_report", args=[objects["A"]["audit"]])).status_code == 200
    # audit2 has a share row but no signed report.
    assert client.get(reverse("audits:regulator_report", args=[objects["A"]["audit2"]])).status_code == 404
    page = client.get(reverse("audits:regulator_home")).content.decode()
    assert "alpha-secret-model" in page and f"Audit {objects['A']['audit2']}<" not in page


def test_admin_is_closed_to_non_staff(world):
    users, objects = world
    for role in ROLES:
        client = Client()
        if role != ANON:
            client.force_login(users[role])
        for url in (reverse("admin:index"), reverse("admin:audits_audit_change", args=[objects["A"]["audit"]]),
                    reverse("admin:audits_membership_changelist"), reverse("admin:auth_user_changelist")):
            response = client.get(url)
            assert response.status_code == 302 and "/admin/login/" in response["Location"], (role, url)


def test_wrong_method_does_not_depend_on_the_object(world):
    """A method an endpoint lacks is answered alike for a foreign and a missing object."""
    users, objects = world
    client = Client()
    client.force_login(users[DS])
    for entry in MATRIX:
        if entry.obj not in {"model", "dataset", "audit", "mitigation"} or entry.methods == BOTH:
            continue
        method = "GET" if "GET" not in entry.methods else "POST"
        statuses = set()
        for pk in (objects["B"][entry.obj], 10**9):
            url = reverse(entry.name, kwargs={"pk": pk, **dict(entry.kw)})
            statuses.add((client.get(url) if method == "GET" else client.post(url)).status_code)
        assert len(statuses) == 1, (entry.name, statuses)
