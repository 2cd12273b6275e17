"""Settings for auditplatform, read from the environment.

Defaults run with no server installed: SQLite and Celery's filesystem broker, with all
state under VAR_DIR. Production and CI set DATABASE_URL and CELERY_BROKER_URL.
"""
import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

# Offline by design: no library may reach a model hub, whatever the caller forgets.
for _flag in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE", "HF_HUB_DISABLE_TELEMETRY"):
    os.environ.setdefault(_flag, "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return default if value in (None, "") else int(value)


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in env_str(name, default).split(",") if item.strip()]


VAR_DIR = Path(env_str("VAR_DIR", str(BASE_DIR / "var")))
DEBUG = env_bool("DEBUG", False)

SECRET_KEY = env_str("SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off.")
    # Only for local development; never used with DEBUG off.
    SECRET_KEY = "dev-only-insecure-key-do-not-use-in-production"

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost" if DEBUG else "")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "audits",
    "explain",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "auditplatform.urls"
WSGI_APPLICATION = "auditplatform.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'db.sqlite3'}"), conn_max_age=60
    )
}
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # The web process and the worker write the same file; wait instead of failing.
    DATABASES["default"]["OPTIONS"] = {"timeout": 30}
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    # A file, not memory, so that browser tests' server and worker threads share it.
    # One file per process, so that two test runs on one machine do not collide.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / f"test-db-{os.getpid()}.sqlite3")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "audits:start"  # home, or the portal for regulators
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-gb"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(VAR_DIR / "static")))
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
# WhiteNoise serves static files from the app server, DEBUG or not: what `collectstatic`
# gathered (compressed) in STATIC_ROOT, else straight from the source folders.
WHITENOISE_USE_FINDERS = True
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(VAR_DIR / "media")))
# Local folder where workers unpack model folders fetched from storage.
MODEL_CACHE_DIR = Path(env_str("MODEL_CACHE_DIR", str(VAR_DIR / "model-cache")))

SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = env_bool("SECURE_COOKIES", not DEBUG)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
# HTTPS in production (deploy/production.env): off by default so that `make run` serves
# plain http on localhost. Behind a TLS-terminating proxy, SECURE_PROXY_SSL_HEADER=1
# trusts its X-Forwarded-Proto (only if the proxy always sets it).
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", False)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if env_bool("SECURE_PROXY_SSL_HEADER") else None

# Uploads: Django streams files over FILE_UPLOAD_MAX_MEMORY_SIZE to disk, and keeps no more
# of one file than the largest upload accepted (audits/uploads/streaming.py); the caps are ours.
# A model of 1.5 B parameters takes 3.1 GB in bfloat16 (6.2 GB in float32).
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
FILE_UPLOAD_HANDLERS = [
    "django.core.files.uploadhandler.MemoryFileUploadHandler",
    "audits.uploads.streaming.CappedTemporaryFileUploadHandler",
]
MAX_MODEL_UPLOAD_BYTES = env_int("MAX_MODEL_UPLOAD_BYTES", 4 * 1024**3)
MAX_MODEL_FILES = env_int("MAX_MODEL_FILES", 64)
MAX_MODEL_UNPACKED_BYTES = env_int("MAX_MODEL_UNPACKED_BYTES", 8 * 1024**3)
MAX_COMPRESSION_RATIO = env_int("MAX_COMPRESSION_RATIO", 100)
MAX_DATASET_BYTES = env_int("MAX_DATASET_BYTES", 500 * 1024**2)
MAX_DATASET_ROWS = env_int("MAX_DATASET_ROWS", 1_000_000)
# Budgets of reading a table (audits/uploads/table_budget.py), checked while it is read:
# what it decodes to (text bytes plus a slot per cell), its columns, one value, JSON depth.
MAX_DATASET_DECODED_BYTES = env_int("MAX_DATASET_DECODED_BYTES", 1024**3)
MAX_DATASET_COLUMNS = env_int("MAX_DATASET_COLUMNS", 1000)
MAX_DATASET_CELL_BYTES = env_int("MAX_DATASET_CELL_BYTES", 1024**2)
MAX_DATASET_JSON_DEPTH = env_int("MAX_DATASET_JSON_DEPTH", 32)
MIN_GROUP_ROWS = env_int("MIN_GROUP_ROWS", 10)

# Model runtime.
TORCH_THREADS = env_int("TORCH_THREADS", 0)  # 0: torch's own default
PREDICT_MAX_TOKENS = env_int("PREDICT_MAX_TOKENS", 2048)  # padded tokens per inference batch
PREDICT_MAX_LENGTH = env_int("PREDICT_MAX_LENGTH", 256)  # tokens; a model's own limit may be lower
# Where this worker runs models: cpu, cuda or cuda:N (runtime.device). A GPU worker also
# listens on GPU_QUEUE; audits of models above GPU_MIN_PARAMETERS go there (0: never).
MODEL_DEVICE = env_str("MODEL_DEVICE", "cpu")
GPU_QUEUE = env_str("GPU_QUEUE", "gpu")
GPU_MIN_PARAMETERS = env_int("GPU_MIN_PARAMETERS", 0)
# Floating-point weights load as float32 or bfloat16 (runtime.weights); a model whose weights
# would take more bytes than WORKER_MAX_MODEL_BYTES in that dtype is refused before loading,
# at upload and on the worker (0: no limit). Set it to what one model may use on this worker.
MODEL_DTYPE = env_str("MODEL_DTYPE", "float32")
WORKER_MAX_MODEL_BYTES = env_int("WORKER_MAX_MODEL_BYTES", 8 * 1024**3)
BOOTSTRAP_RESAMPLES = env_int("BOOTSTRAP_RESAMPLES", 1000)

# Explanations (explain/): rows per chunk, and the cost of each method per row.
EXPLAIN_CHUNK_ROWS = env_int("EXPLAIN_CHUNK_ROWS", 5)
EXPLAIN_LIME_SAMPLES = env_int("EXPLAIN_LIME_SAMPLES", 1000)
EXPLAIN_SHAP_EVALS = env_int("EXPLAIN_SHAP_EVALS", 500)
EXPLAIN_IG_STEPS = env_int("EXPLAIN_IG_STEPS", 50)
# 1: the three budgets above become maxima: SHAP and LIME stop once the top tokens are
# stable (LIME not before half its samples), IG once its convergence delta is small
# (explain.adaptive). On by default: on 50 rows of a 10,000-text audit with the demo model
# the explanations kept comprehensiveness within 0.02 of the full budgets' (SHAP -0.018)
# and top-5 agreement at 0.93 or more (README, bench/audit_10k.py).
EXPLAIN_ADAPTIVE = env_bool("EXPLAIN_ADAPTIVE", True)
# SHAP's and LIME's perturbed inputs may run on a faster copy of the model (1: allowed):
# an int8 copy with fixed input ranges, else a copy multiplying in bfloat16, but only where
# its labels agree with the audited model's on the audit's rows with the lower end of the
# 95 % interval at EXPLAIN_STANDIN_AGREEMENT or above (audits.services.explain_engine);
# the report says which model ran them.
EXPLAIN_INT8 = env_bool("EXPLAIN_INT8", True)
EXPLAIN_BF16 = env_bool("EXPLAIN_BF16", True)
EXPLAIN_STANDIN_AGREEMENT = float(env_str("EXPLAIN_STANDIN_AGREEMENT", "0.995"))
# Forked processes an explanation chunk runs at a time, a row each, longest first, torch's
# threads shared out between them; 1: the worker's own process alone (explain.parallel).
EXPLAIN_PROCESSES = env_int("EXPLAIN_PROCESSES", min(2, os.cpu_count() or 1))

# Mitigation (audits/mitigation/): seconds a debiasing run may train before it is stopped.
MITIGATION_TIME_LIMIT = env_int("MITIGATION_TIME_LIMIT", 1800)
# The demo's training step (one task of audits/services/demo_builds.py): 18 minutes on two
# idle cores, well over an hour on a busy machine.
DEMO_TRAIN_TIME_LIMIT = env_int("DEMO_TRAIN_TIME_LIMIT", 4 * 3600)

# REST API (audits/api/): a token per user for CI, or the browser session with CSRF.
# JSON only: no browsable API and no Swagger UI, whose assets would come from a CDN.
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": [
        "rest_framework.parsers.JSONParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 100,
    "DEFAULT_THROTTLE_CLASSES": ["rest_framework.throttling.UserRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {"user": env_str("API_THROTTLE_USER", "1200/hour")},
}
SPECTACULAR_SETTINGS = {
    "TITLE": "auditplatform API",
    "DESCRIPTION": "Upload a model and a dataset, map its columns, run a fairness audit, "
                   "fetch its report, and gate a release on the policy verdict.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    "COMPONENT_SPLIT_REQUEST": True,
}

# Signed reports (audits/services/signing.py): the platform's Ed25519 key, as a PEM in
# SIGNING_KEY or else a file made once (mode 0600) at SIGNING_KEY_PATH. Never commit either.
SIGNING_KEY = env_str("SIGNING_KEY")
SIGNING_KEY_PATH = Path(env_str("SIGNING_KEY_PATH", str(VAR_DIR / "signing_key.pem")))
VERIFY_MAX_UPLOAD_BYTES = env_int("VERIFY_MAX_UPLOAD_BYTES", 50 * 1024**2)

# Notices (audits/services/notices.py) are also mailed when EMAIL_HOST (or an EMAIL_BACKEND)
# is set; without either, nothing is mailed. SITE_URL makes the links in mails absolute.
EMAIL_HOST = env_str("EMAIL_HOST")
EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend" if EMAIL_HOST
                        else "django.core.mail.backends.dummy.EmailBackend")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "auditplatform@localhost")
SITE_URL = env_str("SITE_URL", "http://127.0.0.1:8000")

# Celery. The database, not the broker, is the record of every audit.
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", "filesystem://")
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_TASK_SOFT_TIME_LIMIT", 3600)
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 3900)
if CELERY_BROKER_URL == "filesystem://":
    _broker_dir = VAR_DIR / "broker"
    for _sub in ("queue", "processed", "control"):
        (_broker_dir / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        # Broadcasts (worker control) would otherwise land in ./control of the cwd.
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }
else:
    # Redis gives a task nobody acknowledged to another worker after visibility_timeout:
    # above the longest task time limit, so a task still running is never handed out
    # twice. A dead worker's task is recovered sooner by the reconciler (below).
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": max(CELERY_TASK_TIME_LIMIT, MITIGATION_TIME_LIMIT + 120, DEMO_TRAIN_TIME_LIMIT + 60) + 600,
        "socket_connect_timeout": 5,
    }
CELERY_TASK_DEFAULT_QUEUE = env_str("CELERY_TASK_DEFAULT_QUEUE", "celery")
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_IGNORE_RESULT = True
# A task is acknowledged when it ends, and given back when its pool process dies; what
# is delivered twice finds its job taken or ended (audits.services.job_claims).
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = False  # they finish; the database keeps order
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_RESULT_SERIALIZER = "json"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Sending a task is tried this many more times before the job is left queued in the
# database for the reconciler (and an API request answers 503).
BROKER_SEND_RETRIES = env_int("BROKER_SEND_RETRIES", 3)

# Recovery (audits/services/job_claims.py, reconcile.py). A worker stamps its job every
# JOB_HEARTBEAT_SECONDS; the reconciler, every RECONCILE_INTERVAL_SECONDS and at each
# worker's start, queues again a running job silent for JOB_STALE_SECONDS (failing it,
# with the reason, after JOB_MAX_ATTEMPTS attempts), sends again queued jobs the broker
# lost (JOB_QUEUED_GRACE_SECONDS after their last send) and fails jobs queued for
# JOB_QUEUED_MAX_SECONDS. A dead worker's job is thus running again within
# JOB_STALE_SECONDS + RECONCILE_INTERVAL_SECONDS (3 minutes by default).
JOB_HEARTBEAT_SECONDS = env_int("JOB_HEARTBEAT_SECONDS", 30)
JOB_STALE_SECONDS = env_int("JOB_STALE_SECONDS", 120)
JOB_MAX_ATTEMPTS = env_int("JOB_MAX_ATTEMPTS", 3)
JOB_QUEUED_GRACE_SECONDS = env_int("JOB_QUEUED_GRACE_SECONDS", 60)
JOB_QUEUED_MAX_SECONDS = env_int("JOB_QUEUED_MAX_SECONDS", 24 * 3600)
RECONCILE_INTERVAL_SECONDS = env_int("RECONCILE_INTERVAL_SECONDS", 60)
if JOB_HEARTBEAT_SECONDS > 0 and JOB_STALE_SECONDS < 2 * JOB_HEARTBEAT_SECONDS:
    raise ImproperlyConfigured("JOB_STALE_SECONDS must be at least twice JOB_HEARTBEAT_SECONDS, "
                               "or a slow beat would have a live job run twice.")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    # On the loggers that emit (not the handler): a Celery worker replaces the root's handlers.
    "filters": {"library_noise": {"()": "auditplatform.logfilters.LibraryNoise"},
                "progress_polls": {"()": "auditplatform.logfilters.ProgressPolls"}},
    # The development server's access log as Django sets it up (django.utils.log), less the
    # progress polls; its handler is restated because configuring the logger drops it.
    "formatters": {"django.server": {"()": "django.utils.log.ServerFormatter",
                                     "format": "[{server_time}] {message}", "style": "{"}},
    "handlers": {"console": {"class": "logging.StreamHandler"},
                 "django.server": {"class": "logging.StreamHandler", "formatter": "django.server"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    # WeasyPrint narrates every rendering step at INFO.
    "loggers": {"weasyprint": {"level": "WARNING", "filters": ["library_noise"]},
                "fontTools": {"level": "WARNING"},
                "fontTools.subset": {"level": "WARNING", "filters": ["library_noise"]},
                "kombu.connection": {"filters": ["library_noise"]},
                "django.server": {"handlers": ["django.server"], "level": "INFO", "propagate": False,
                                  "filters": ["progress_polls"]}},
}
