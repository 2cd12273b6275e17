"""`manage.py audit`: one audit in-process through the same services as the web.

Exit status: 0 no check fails the policy, 1 a check fails it or could not run (the
verdict counts `error` as a failure, so a release gate stops) or the audit is
inconclusive (a check could assess nothing: no pass without evidence), 2 bad input (one
line on stderr, nothing stored).

The contract of exit 2 holds for every way a run can go wrong (audits.management.contract):
the whole run is one database transaction, rolled back with the files it wrote; the
line is escaped and names no folder of the server; logging and warnings stay off stderr
(unless --traceback or -v 2, for whoever debugs the platform itself).
"""
from __future__ import annotations

import shutil
import sys
from pathlib import Path

from django.core.files import File
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from audits.errors import BadInput, first_line
from audits.management.contract import all_or_nothing, one_line, quiet
from audits.models import Audit, Dataset, MitigationRun, Organisation
from audits.reports.document import RELEASE_BLOCKING
from audits.services.audit_config import DEFAULT_CHECKS, audit_config_build
from audits.services.audits import audit_create, audit_file, audit_run
from audits.services.datasets import dataset_map, dataset_upload
from audits.services.mitigations import mitigation_create, mitigation_run
from audits.services.model_prompts import few_shot_parse, prompt_spec_build, verbalizers_parse
from audits.services.model_uploads import model_local_folder, model_register_folder, model_upload

OUT_FILES = ("report.json", "report.html", "report.pdf", "predictions.csv")


def _privileged(pairs: list[str], protected: list[str]) -> dict[str, list[str]]:
    result: dict[str, list[str]] = {attr: [] for attr in protected}
    for pair in pairs:
        attr, sep, value = pair.partition("=")
        if not sep or not attr or not value:
            raise BadInput(f"--privileged expects ATTR=VALUE, got {pair!r}.")
        if attr not in result:
            raise BadInput(f"--privileged names {attr!r}, which is not given with --protected.")
        result[attr].append(value)
    missing = [attr for attr, values in result.items() if not values]
    if missing:
        raise BadInput(f"No privileged value for {', '.join(missing)}: add --privileged ATTR=VALUE.")
    return result


class Command(BaseCommand):
    help = "Run one audit of a model on a dataset and write report.json/html/pdf and predictions.csv."

    def add_arguments(self, parser):
        parser.add_argument("--model", required=True, help="Hugging Face folder, .zip or .tar.gz")
        parser.add_argument("--dataset", required=True, help="CSV, JSONL or Parquet file")
        parser.add_argument("--text-column", default=None, help="a classifier's dataset: the text column")
        parser.add_argument("--label-column", default=None, help="a classifier's dataset: the label column")
        parser.add_argument("--more-column", default=None, metavar="C",
                            help="sentence pairs (--checks stereotype_pairs): the more-stereotypical sentence")
        parser.add_argument("--less-column", default=None, metavar="C",
                            help="sentence pairs: the less-stereotypical sentence")
        parser.add_argument("--bias-type-column", default=None, metavar="C", help="sentence pairs: the bias type")
        parser.add_argument("--direction-column", default=None, metavar="C",
                            help="sentence pairs: stereo or antistereo")
        parser.add_argument("--protected", nargs="*", default=[], metavar="ATTR")
        parser.add_argument("--privileged", nargs="*", default=[], metavar="ATTR=VALUE")
        parser.add_argument("--favorable-label", default=None)
        parser.add_argument("--identity-terms", action="store_true")
        parser.add_argument("--checks", default=None,
                            help=f"comma-separated ids, or all (default: {','.join(DEFAULT_CHECKS)}; "
                                 "stereotype_pairs for sentence pairs)")
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--explain", type=int, default=0, metavar="N")
        parser.add_argument("--mitigate", choices=["adversarial", "reweighing", "threshold"])
        parser.add_argument("--mitigate-attribute", default=None, metavar="ATTR",
                            help="attribute to debias for (default: the first --protected)")
        parser.add_argument("--prompt-template", default=None, metavar="FILE",
                            help="a causal LM is prompted: file holding the prompt, with one {text} slot")
        parser.add_argument("--verbalizer", nargs="+", action="extend", default=[], metavar="LABEL=WORDS",
                            help="with --prompt-template: the word(s) answering for a label, LABEL=WORD[,WORD]")
        parser.add_argument("--few-shot", nargs="+", action="extend", default=[], metavar="LABEL=TEXT",
                            help="with --prompt-template: examples shown before the text")
        parser.add_argument("--calibrate", action="store_true",
                            help="with --prompt-template: contextual calibration against \"N/A\"")
        parser.add_argument("--compress", default=None, metavar="RECIPES",
                            help="audit compressed variants beside the model: int8, prune:S, heads:F, distil:L, "
                                 "comma-separated (report.json's compression section)")
        parser.add_argument("--train-dataset", default=None, metavar="PATH",
                            help="with --compress distil:L: the rows the student is trained on (same text and label "
                                 "columns); distil is refused without it, never trained on the audited rows. With "
                                 "--mitigate: the rows debiasing trains on (same text, label and protected columns); "
                                 "the audit's rows then all serve for the before/after figures")
        parser.add_argument("--twin-dataset", default=None, metavar="PATH",
                            help="the counterfactual check's supplied twins: the dataset's rows with identity "
                                 "terms swapped, same text column, met by --twin-id-column")
        parser.add_argument("--twin-id-column", default=None, metavar="COL",
                            help="with --twin-dataset: the id column both files share, one value per row")
        parser.add_argument("--organisation", default="cli", help="organisation that records the audit")
        parser.add_argument("--out", required=True)

    def create_parser(self, prog_name, subcommand, **kwargs):
        parser = super().create_parser(prog_name, subcommand, **kwargs)

        def error(message: str):
            # argparse prints its usage (many lines) before the message; the contract is one line.
            if not parser.called_from_command_line:
                raise CommandError(f"Error: {message}")
            sys.stderr.write(one_line(f"error: {message} (see --help)") + "\n")
            sys.exit(2)

        parser.error = error
        return parser

    def handle(self, *args, **opts):
        out = Path(opts["out"])
        out_existed = out.exists()
        debugging = bool(opts.get("traceback")) or opts.get("verbosity", 1) >= 2
        try:
            with quiet(not debugging):
                _migrate_if_needed()  # outside the transaction: SQLite cannot migrate inside one
                with all_or_nothing():
                    code = self._run(opts, out)
        except Exception as exc:
            if debugging:
                raise
            if not out_existed:
                shutil.rmtree(out, ignore_errors=True)
            reason = str(exc) if isinstance(exc, BadInput) else f"{type(exc).__name__}: {first_line(exc)}"
            # Paths the user gave are theirs to see in the line; other folders are hidden.
            given = [p for k in ("model", "dataset", "out", "train_dataset", "twin_dataset", "prompt_template")
                     if (p := opts.get(k))]
            self.stderr.write(one_line(f"error: {reason}", user_paths=given + [str(Path(p).resolve()) for p in given]))
            sys.exit(2)
        sys.exit(code)

    def _run(self, opts, out: Path) -> int:
        """The audit (and debiasing) and its files in `out`; the exit status. Raises on bad input."""
        audit = self._create(opts)
        audit = audit_run(audit_id=audit.pk, inline=True)
        if audit.status != Audit.Status.DONE:
            raise BadInput(f"the audit failed: {audit.error}")
        out.mkdir(parents=True, exist_ok=True)
        if opts["mitigate"]:
            audit = self._mitigate(audit, opts, out)
        for name in OUT_FILES:
            with audit_file(audit=audit, name=name) as handle:
                (out / name).write_bytes(handle.read())
        summary = audit.report["summary"]
        self.stdout.write(f"audit {audit.pk}: {summary['status']} {summary['counts']} -> {out}")
        return 1 if summary["status"] in RELEASE_BLOCKING else 0

    def _mitigate(self, audit: Audit, opts, out: Path) -> Audit:
        """Debias after the audit, in-process: the section goes into the report (JSON, HTML,
        PDF) and the new model into DIR/debiased_model/. A refusal or failure is bad input."""
        train = None
        if opts.get("train_dataset"):
            known = audit.config.get("train_dataset")  # already uploaded for --compress
            train = (Dataset.objects.get(pk=known, organisation_id=audit.organisation_id) if known
                     else _train_dataset(audit.organisation, opts))
        run = mitigation_create(audit=audit, user=None, method=opts["mitigate"], options={}, enqueue=False,
                                attribute=opts["mitigate_attribute"] or opts["protected"][0], train_dataset=train)
        # No check audits: with no worker they would wait in the queue forever, and the CLI's
        # report already holds the held-out figures.
        run = mitigation_run(run_id=run.pk, verify=False)
        if run.status != MitigationRun.Status.DONE:
            raise BadInput(f"the mitigation failed: {run.error}")
        if run.result_model is not None:
            target = out / "debiased_model"
            shutil.rmtree(target, ignore_errors=True)
            shutil.copytree(model_local_folder(model=run.result_model), target)
        self.stdout.write(f"mitigation {run.pk}: {run.method} on {run.attribute}, "
                          f"model {run.result['model_sha256'] or 'not saved (decisions only)'}")
        return Audit.objects.get(pk=audit.pk)

    def _create(self, opts) -> Audit:
        if _probing(opts):
            return _create_probe(opts)
        if not opts["text_column"] or not opts["label_column"]:
            raise BadInput("Give --text-column and --label-column (a classifier), or --more-column and --less-column "
                           "with --checks stereotype_pairs (a language model on sentence pairs).")
        if opts["mitigate"] and not (opts["mitigate_attribute"] or opts["protected"]):
            raise BadInput("Give --mitigate-attribute ATTR (an identity-term category) or --protected ATTR.")
        chosen = opts["mitigate_attribute"]
        if opts["mitigate"] and chosen and chosen not in opts["protected"] and not opts["identity_terms"]:
            raise BadInput(f"--mitigate-attribute names {chosen!r}, which is not given with --protected.")
        if not opts["protected"] and not opts["identity_terms"]:
            raise BadInput("Give --protected ATTR (with --privileged ATTR=VALUE) or --identity-terms.")
        if Path(opts["out"]).exists() and not Path(opts["out"]).is_dir():
            raise BadInput(f"{opts['out']}: --out names a file; give a folder.")
        organisation, _ = Organisation.objects.get_or_create(name=opts["organisation"])
        model = _model(organisation, Path(opts["model"]), _prompt(opts))
        dataset = _dataset(organisation, Path(opts["dataset"]))
        mapping = {
            "text_column": opts["text_column"],
            "label_column": opts["label_column"],
            "favorable_label": opts["favorable_label"] or _default_favourable(model.labels),
            "protected": _privileged(opts["privileged"], opts["protected"]),
            "identity_terms": opts["identity_terms"],
        }
        dataset = dataset_map(dataset=dataset, mapping=mapping)
        checks = [c.strip() for c in (opts["checks"] or "").split(",") if c.strip()]
        if opts["twin_dataset"] and "counterfactual" not in checks and checks != ["all"]:
            raise BadInput("--twin-dataset serves the counterfactual check: add it to --checks (or --checks all).")
        config = audit_config_build(dataset=dataset, checks=checks, seed=opts["seed"], explain=opts["explain"],
                                    compress=opts["compress"], train_dataset=_train_dataset(organisation, opts),
                                    counterfactual_dataset=_twin_dataset(organisation, opts),
                                    counterfactual_id_column=opts["twin_id_column"] or "")
        audit = audit_create(organisation=organisation, user=None, model=model, dataset=dataset, config=config,
                             enqueue=False)
        return audit


def _create_probe(opts) -> Audit:
    """A language model on sentence pairs: no label, protected columns or debiasing."""
    if not opts["more_column"] or not opts["less_column"]:
        raise BadInput("--checks stereotype_pairs needs --more-column and --less-column (the two sentences).")
    given = [f"--{k.replace('_', '-')}" for k in ("text_column", "label_column", "protected", "identity_terms",
                                                  "mitigate", "prompt_template", "compress", "twin_dataset",
                                                  "twin_id_column") if opts.get(k)]
    if given:
        raise BadInput(f"{', '.join(given)} do not apply to sentence pairs scored by a language model.")
    if Path(opts["out"]).exists() and not Path(opts["out"]).is_dir():
        raise BadInput(f"{opts['out']}: --out names a file; give a folder.")
    organisation, _ = Organisation.objects.get_or_create(name=opts["organisation"])
    model = _model(organisation, Path(opts["model"]), None)
    dataset = _dataset(organisation, Path(opts["dataset"]))
    dataset = dataset_map(dataset=dataset, mapping={k: opts[k] or "" for k in (
        "more_column", "less_column", "bias_type_column", "direction_column")})
    checks = [c.strip() for c in (opts["checks"] or "").split(",") if c.strip()]
    config = audit_config_build(dataset=dataset, checks=checks, seed=opts["seed"], explain=0)
    return audit_create(organisation=organisation, user=None, model=model, dataset=dataset, config=config,
                        enqueue=False)


def _train_dataset(organisation: Organisation, opts):
    """--train-dataset uploaded (not mapped: the audit's text and label columns are read from it), or None."""
    if not opts["train_dataset"]:
        return None
    return _dataset(organisation, Path(opts["train_dataset"]), option="--train-dataset")


def _twin_dataset(organisation: Organisation, opts):
    """--twin-dataset uploaded (its id and text columns are checked with the audit's config by
    audits.services.twins), or None."""
    path, id_column = opts["twin_dataset"], opts["twin_id_column"]
    if not path:
        if id_column:
            raise BadInput("--twin-id-column needs --twin-dataset PATH (the twin file).")
        return None
    if not id_column:
        raise BadInput("--twin-dataset needs --twin-id-column COL (the id column both files share).")
    return _dataset(organisation, Path(path), option="--twin-dataset")


def _probing(opts) -> bool:
    return bool(opts["more_column"]) or "stereotype_pairs" in (opts["checks"] or "").split(",")


def _dataset(organisation: Organisation, path: Path, option: str = ""):
    """The file at `path` uploaded, unmapped; `option` names the flag that gave it in the error."""
    if not path.is_file():
        raise BadInput(f"{option} {path}: no such file.".lstrip())
    with path.open("rb") as fh:
        return dataset_upload(organisation=organisation, user=None, name=path.name, uploaded_file=File(fh, name=path.name))


def _model(organisation: Organisation, path: Path, prompt):
    if path.is_dir():
        return model_register_folder(organisation=organisation, user=None, name=path.name, folder=path,
                                     prompt=prompt)
    if not path.is_file():
        raise BadInput(f"{path}: no such file or folder.")
    with path.open("rb") as fh:
        return model_upload(organisation=organisation, user=None, name=path.name, files=[File(fh, name=path.name)],
                            prompt=prompt)


def _prompt(opts):
    """The prompt spec of --prompt-template, --verbalizer, --few-shot and --calibrate, or None."""
    template = None
    if opts["prompt_template"]:
        path = Path(opts["prompt_template"])
        if not path.is_file():
            raise BadInput(f"--prompt-template {path}: no such file.")
        try:
            template = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise BadInput(f"--prompt-template {path}: cannot read it as UTF-8 text ({exc.__class__.__name__}).") from exc
    elif opts["verbalizer"]:
        raise BadInput("--verbalizer needs --prompt-template FILE (the prompt, with one {text} slot).")
    return prompt_spec_build(template=template, verbalizers=verbalizers_parse(opts["verbalizer"]),
                             few_shot=few_shot_parse(opts["few_shot"]), calibrate=opts["calibrate"])


def _default_favourable(labels: dict) -> str:
    # AIF360's convention is favourable = 1; without it we cannot guess safely.
    names = set(labels.values())
    for candidate in ("1", "True", "positive"):
        if candidate in names:
            return candidate
    raise BadInput(f"Give --favorable-label; the model's labels are {', '.join(sorted(names))}.")


def _migrate_if_needed() -> None:
    executor = MigrationExecutor(connection)
    if executor.migration_plan(executor.loader.graph.leaf_nodes()):
        call_command("migrate", verbosity=0)
