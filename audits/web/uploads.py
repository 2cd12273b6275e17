"""Views of uploads: models, datasets and their column mapping, and the identity-term lexicon.

An upload form carries a one-time token (`_once`): sent twice, it stores one upload."""
from __future__ import annotations

from django.contrib import messages
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from audits import access
from audits.errors import BadInput
from audits.identity import lexicon_for
from audits.services.columns import column_guesses, group_candidates
from audits.services.datasets import dataset_frame, dataset_map, dataset_preview, dataset_upload
from audits.services.form_tokens import form_token_claim, form_token_done, form_token_release
from audits.services.lexicon import lexicon_update
from audits.services.model_prompts import few_shot_parse, model_prompt, prompt_spec_build, verbalizers_parse
from audits.services.model_uploads import model_upload
from audits.services.pairs_mapping import is_pairs_mapping
from audits.web.forms import DatasetUploadForm, LexiconForm, MappingForm, ModelUploadForm, PairsMappingForm


def _once(request, form, store):
    """Run `store()` (the upload: a redirect once stored, None when refused) once per form
    token: the same form sent again leads to what the first one stored."""
    token = form.cleaned_data.get("once")
    if token is None:
        return store()
    try:
        earlier = form_token_claim(user=request.user, token=token)
    except ValueError:
        form.add_error(None, "This form has expired; reload the page and send it again.")
        return None
    if earlier is not None:
        if earlier.result_url:
            messages.info(request, "This form was sent before and its upload is stored; here it is. "
                                   "Nothing was stored twice.")
            return redirect(earlier.result_url)
        messages.info(request, "This form was sent before and its upload is still being checked; "
                               "it appears here when it is stored.")
        return redirect("audits:home")
    response = None
    try:
        response = store()
    finally:
        if response is None:
            form_token_release(user=request.user, token=token)
        else:
            form_token_done(user=request.user, token=token, url=response.url)
    return response


@access.requires("upload")
@require_http_methods(["GET", "POST"])
def model_upload_view(request):
    form = ModelUploadForm(request.POST or None, request.FILES or None)

    def store():
        data = form.cleaned_data
        try:
            prompt = prompt_spec_build(
                template=data["prompt_template"], verbalizers=verbalizers_parse(data["verbalizers"].splitlines()),
                few_shot=few_shot_parse(data["few_shot"].splitlines()), calibrate=data["calibrate"])
            model = model_upload(organisation=request.organisation, user=request.user,
                                 name=data["name"], files=data["files"], prompt=prompt)
        except BadInput as exc:
            form.add_error(None, str(exc))
            return None
        messages.success(request, f"Model “{model.name}” uploaded.")
        for note in getattr(model, "upload_notes", []):
            messages.info(request, note)
        return redirect("audits:model_detail", pk=model.pk)

    if request.method == "POST" and form.is_valid() and (response := _once(request, form, store)):
        return response
    return render(request, "audits/model_upload.html", {"form": form})


@access.member_required
def model_detail(request, pk: int):
    model = access.get_model(request, pk)
    return render(request, "audits/model_detail.html", {"model": model, "prompt": model_prompt(model=model)})


@access.requires("upload")
@require_http_methods(["GET", "POST"])
def dataset_upload_view(request):
    form = DatasetUploadForm(request.POST or None, request.FILES or None)

    def store():
        try:
            dataset = dataset_upload(organisation=request.organisation, user=request.user,
                                     name=form.cleaned_data["name"], uploaded_file=form.cleaned_data["file"])
        except BadInput as exc:
            form.add_error(None, str(exc))
            return None
        return redirect("audits:dataset_map", pk=dataset.pk)

    if request.method == "POST" and form.is_valid() and (response := _once(request, form, store)):
        return response
    return render(request, "audits/dataset_upload.html", {"form": form})


PAIR_GUESSES = {"more_column": "sent_more", "less_column": "sent_less", "bias_type_column": "bias_type",
                "direction_column": "stereo_antistereo"}


@access.requires("upload")
@require_http_methods(["GET", "POST"])
def dataset_map_view(request, pk: int):
    dataset = access.get_dataset(request, pk)
    frame = dataset_frame(dataset=dataset)
    # A first mapping starts from guesses (text: the longest texts; label: few values).
    initial = {**column_guesses(frame=frame), **(dataset.mapping or {})}
    initial["reference_shares"] = "\n".join(
        f"{a},{g},{v:g}" for a, groups in initial.get("reference_shares", {}).items() for g, v in groups.items())
    columns = [str(c) for c in frame.columns]
    posted_pairs = request.method == "POST" and "pairs-more_column" in request.POST
    form = MappingForm(request.POST if request.method == "POST" and not posted_pairs else None, initial=initial,
                       columns=columns, group_columns=group_candidates(frame=frame))
    # CrowS-Pairs' own column names are guessed; a stored pairs mapping comes first.
    guesses = {role: name for role, name in PAIR_GUESSES.items() if name in columns}
    pairs_form = PairsMappingForm(request.POST if posted_pairs else None, initial={**guesses, **initial},
                                  columns=columns)
    chosen = pairs_form if posted_pairs else form
    if request.method == "POST" and chosen.is_valid():
        try:
            dataset_map(dataset=dataset, mapping=chosen.mapping())
        except BadInput as exc:
            chosen.add_error(None, str(exc))
        else:
            messages.success(request, f"Columns of “{dataset.name}” mapped.")
            return redirect(reverse("audits:audit_new") + f"?dataset={dataset.pk}")
    return render(request, "audits/dataset_map.html", {
        "dataset": dataset, "form": form, "pairs_form": pairs_form, "preview": dataset_preview(dataset=dataset),
        "pairs_open": posted_pairs or is_pairs_mapping(dataset.mapping) or {"sent_more", "sent_less"} <= set(columns),
    })


@access.requires("upload")
@require_http_methods(["GET", "POST"])
def lexicon_view(request):
    org = request.organisation
    current = "\n".join(f"{term},{category}" for term, category in lexicon_for(org))
    form = LexiconForm(request.POST or None, initial={"identity_terms": current})
    if request.method == "POST" and form.is_valid():
        try:
            lexicon_update(organisation=org, text=form.cleaned_data["identity_terms"])
        except BadInput as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, "Identity terms saved.")
            return redirect("audits:lexicon")
    return render(request, "audits/lexicon.html", {"form": form})
