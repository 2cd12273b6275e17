"""Database records: organisations, uploaded models and datasets, audits.

Every model, dataset and audit belongs to one organisation; views and services fetch
them only through the user's organisation.
"""
import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone


class Organisation(models.Model):
    name = models.CharField(max_length=200, unique=True)
    # Identity-term lexicon, lines "term,category"; empty means the shipped lexicon.
    identity_terms = models.TextField(blank=True, default="")

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    class Role(models.TextChoices):
        DATA_SCIENTIST = "data_scientist", "Data scientist"
        COMPLIANCE = "compliance", "Compliance officer"
        REGULATOR = "regulator", "Regulator"
        ADMIN = "admin", "Admin"

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="members")
    role = models.CharField(max_length=32, choices=Role.choices, default=Role.DATA_SCIENTIST)

    def __str__(self) -> str:
        return f"{self.user} @ {self.organisation}"


class OwnedQuerySet(models.QuerySet):
    def for_org(self, organisation: Organisation) -> "OwnedQuerySet":
        return self.filter(organisation=organisation)


class ModelArtifact(models.Model):
    """An uploaded Hugging Face folder, stored as its files under `storage_prefix`."""

    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="models")
    name = models.CharField(max_length=200)
    storage_prefix = models.CharField(max_length=300)
    files = models.JSONField(default=list)  # [{"name", "size", "sha256"}]
    sha256 = models.CharField(max_length=64)
    architecture = models.CharField(max_length=200)
    num_parameters = models.BigIntegerField()
    labels = models.JSONField(default=dict)  # id2label with string keys
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL)
    # How this model was made when the platform made it (mitigation method, settings).
    provenance = models.JSONField(default=dict, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = OwnedQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.name


class Dataset(models.Model):
    """An uploaded table, stored normalised as Parquet, with its column mapping."""

    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="datasets")
    name = models.CharField(max_length=200)
    original_filename = models.CharField(max_length=300)
    file_format = models.CharField(max_length=16)
    parquet_path = models.CharField(max_length=300)
    # How a text file was read, as guessed from its bytes: {"encoding", "delimiter"}.
    reading = models.JSONField(default=dict, blank=True)
    sha256 = models.CharField(max_length=64)  # of the uploaded file
    rows = models.PositiveIntegerField()
    columns = models.JSONField(default=list)  # [{"name", "dtype"}]
    # What reading the file changed, one sentence each (control characters removed
    # from a column, and in how many rows), shown where the columns are mapped.
    warnings = models.JSONField(default=list, blank=True)
    # Set by the mapping step: text_column, label_column, favorable_label,
    # protected {attribute: [privileged values]}, identity_terms (bool).
    mapping = models.JSONField(null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = OwnedQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.name


class Policy(models.Model):
    """Thresholds per metric. Never edited in place: a change is a new version, so a
    report can always name the exact thresholds it was judged by."""

    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="policies")
    name = models.CharField(max_length=100, default="default")
    version = models.PositiveIntegerField()
    thresholds = models.JSONField()  # {metric: {"low": x, "high": y}}
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["organisation", "name", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["organisation", "name", "version"], name="policy_version_unique")
        ]
        verbose_name_plural = "policies"

    def __str__(self) -> str:
        return f"{self.name} v{self.version}"

    def as_dict(self) -> dict:
        return {"name": self.name, "version": self.version, "thresholds": self.thresholds}


class Job(models.Model):
    """What every background job records for its page and progress bar: the stage it is
    in, how far through it is, why it failed, who started it and when."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    stage = models.CharField(max_length=64, blank=True, default="")
    progress_done = models.PositiveIntegerField(default=0)
    progress_total = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True, default="")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Recovery (audits/services/job_claims.py, reconcile.py): how many workers have taken
    # the job, and its last sign of life: when it was last queued, or its worker's last beat.
    attempts = models.PositiveIntegerField(default=0)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    FINISHED: frozenset[str] = frozenset({Status.DONE, Status.FAILED})

    objects = OwnedQuerySet.as_manager()

    class Meta:
        abstract = True
        ordering = ["-created_at"]

    @property
    def is_finished(self) -> bool:
        return self.status in self.FINISHED


class Audit(Job):
    class ReviewStatus(models.TextChoices):
        NONE = "", "Awaiting review"
        APPROVED = "approved", "Approved"
        REJECTED = "rejected", "Rejected"
        CHANGES = "changes_requested", "Changes requested"

    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="audits")
    model = models.ForeignKey(ModelArtifact, on_delete=models.PROTECT, related_name="audits")
    dataset = models.ForeignKey(Dataset, on_delete=models.PROTECT, related_name="audits")
    policy = models.ForeignKey(Policy, null=True, on_delete=models.PROTECT, related_name="audits")
    # text_column, label_column, favorable_label, protected, identity_terms, checks, seed
    config = models.JSONField()
    verdict = models.CharField(max_length=16, blank=True, default="")  # pass / warn / fail / inconclusive
    report = models.JSONField(null=True, blank=True)
    review_status = models.CharField(max_length=20, choices=ReviewStatus.choices, blank=True, default="")
    artifacts_prefix = models.CharField(max_length=300, blank=True, default="")
    # The audit this one re-runs after a reviewer sent it back ("re-run with changes").
    previous = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="reruns")
    SENT_BACK: frozenset[str] = frozenset({ReviewStatus.REJECTED, ReviewStatus.CHANGES})
    # A client's Idempotency-Key: a retried API request returns this audit, not a second one.
    request_key = models.CharField(max_length=100, blank=True, default="")

    class Meta(Job.Meta):
        constraints = [models.UniqueConstraint(
            fields=["created_by", "request_key"], condition=~models.Q(request_key=""), name="audit_request_key_unique")]

    def __str__(self) -> str:
        return f"Audit {self.pk}"

    @property
    def review_label(self) -> str:
        """The review state in words; an unfinished audit is not awaiting review yet."""
        if self.review_status or self.status == self.Status.DONE:
            return self.get_review_status_display()
        return "Not finished" if self.status != self.Status.FAILED else "Not reviewable (failed)"


class ExplainChunk(models.Model):
    """One slice of an audit's explanation rows, run as its own Celery task.

    The database, not a result backend, joins the chunks: the last chunk to finish
    hands the audit on to its report stage."""

    audit = models.ForeignKey(Audit, on_delete=models.CASCADE, related_name="explain_chunks")
    index = models.PositiveIntegerField()
    rows = models.JSONField()  # [{"row": dataset row, "reason": why it was chosen}]
    status = models.CharField(max_length=16, default="queued")  # queued / running / done / failed
    result = models.JSONField(null=True, blank=True)
    error = models.TextField(blank=True, default="")
    # Which model runs the perturbed inputs (audits.services.explain_engine), the same
    # for every chunk of an audit; null: the audited model.
    plan = models.JSONField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)  # as on Job
    heartbeat_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["audit", "index"]
        constraints = [models.UniqueConstraint(fields=["audit", "index"], name="explain_chunk_unique")]


class MitigationRun(Job):
    """A debiasing run started from an audit; its result is a new model."""

    class Method(models.TextChoices):
        ADVERSARIAL = "adversarial", "Adversarial debiasing"
        REWEIGHING = "reweighing", "Reweighing"
        THRESHOLD = "threshold", "Threshold post-processing"
        BALANCING = "balancing", "Data balancing"

    # A run can also be cancelled: the job's statuses and one more.
    Status = models.TextChoices(
        "Status", [(s.name, (s.value, s.label)) for s in Job.Status] + [("CANCELLED", ("cancelled", "Cancelled"))]
    )

    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="mitigations")
    audit = models.ForeignKey(Audit, on_delete=models.CASCADE, related_name="mitigations")
    method = models.CharField(max_length=16, choices=Method.choices)
    attribute = models.CharField(max_length=200)
    options = models.JSONField(default=dict)  # the method's settings
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)  # with CANCELLED
    cancel_requested = models.BooleanField(default=False)
    result = models.JSONField(null=True, blank=True)  # report.json "mitigation" section
    result_model = models.ForeignKey(
        ModelArtifact, null=True, blank=True, on_delete=models.SET_NULL, related_name="made_by"
    )
    # The held-out rows as a dataset of their own, and audits of the parent and of the new
    # model on them: the run's before/after figures checked by the ordinary audit.
    held_out_dataset = models.ForeignKey(
        Dataset, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    before_audit = models.ForeignKey(Audit, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    after_audit = models.ForeignKey(Audit, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    FINISHED = Job.FINISHED | {Status.CANCELLED}


class AppendOnlyQuerySet(OwnedQuerySet):
    def update(self, **kwargs):
        raise PermissionError("The audit trail is append-only")

    def delete(self):
        raise PermissionError("The audit trail is append-only")


class AuditEvent(models.Model):
    """One entry of the append-only audit trail: who did what, when."""

    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="events")
    # SET_NULL: deleting an unsigned audit keeps its events (the delete is an event too).
    audit = models.ForeignKey(Audit, null=True, blank=True, on_delete=models.SET_NULL, related_name="events")
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL)
    # Kept as text so the trail still names the person if the account is removed.
    actor_name = models.CharField(max_length=150)
    verb = models.CharField(max_length=40)
    comment = models.TextField(blank=True, default="")
    detail = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        ordering = ["created_at", "pk"]

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise PermissionError("The audit trail is append-only")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise PermissionError("The audit trail is append-only")


class ReportShare(models.Model):
    """An approved audit's report made visible to one regulator."""

    audit = models.ForeignKey(Audit, on_delete=models.CASCADE, related_name="shares")
    regulator = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="shared_reports")
    shared_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [models.UniqueConstraint(fields=["audit", "regulator"], name="share_unique")]


class SignedReport(models.Model):
    """The frozen, signed report of an approved audit. Never changed once written."""

    audit = models.OneToOneField(Audit, on_delete=models.PROTECT, related_name="signed")
    manifest = models.JSONField()
    json_path = models.CharField(max_length=300)
    pdf_path = models.CharField(max_length=300)
    json_sha256 = models.CharField(max_length=64)
    pdf_sha256 = models.CharField(max_length=64)
    signature = models.TextField()  # base64 Ed25519 of report.json (scheme: audits/reports/signature.py)
    key_id = models.CharField(max_length=64)  # SHA-256 of the raw public key
    signed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL)
    # Set by the signer to the time written in the signed files.
    signed_at = models.DateTimeField(default=timezone.now)


class SignOff(Job):
    """An approval being carried out: the report frozen and signed on a worker, then the
    audit marked approved. At most one is queued or running per audit."""

    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="signoffs")
    audit = models.ForeignKey(Audit, on_delete=models.CASCADE, related_name="signoffs")
    comment = models.TextField()

    class Meta(Job.Meta):
        constraints = [models.UniqueConstraint(
            fields=["audit"], condition=models.Q(status__in=["queued", "running"]), name="one_active_signoff")]


class Notice(models.Model):
    """An in-app notice to one person (shown in the navigation until read)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notices")
    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="notices")
    audit = models.ForeignKey(Audit, null=True, blank=True, on_delete=models.SET_NULL, related_name="notices")
    text = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]


class DemoBuild(Job):
    """The demo built in the background by a worker: training, uploads, audit, debiasing."""

    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="demo_builds")
    audit = models.ForeignKey(Audit, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    mitigation = models.ForeignKey(MitigationRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    seed = models.IntegerField(default=0)
    metrics = models.JSONField(default=dict, blank=True)  # the trained model's held-out figures


class FormToken(models.Model):
    """A one-time token of an upload form: a second submission of the same form (Back,
    reload, double click) finds the first one's result instead of storing a second copy."""

    token = models.UUIDField(unique=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    result_url = models.CharField(max_length=300, blank=True, default="")  # empty while in progress
    created_at = models.DateTimeField(auto_now_add=True)
