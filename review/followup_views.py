"""Follow-ups for staff: admins edit the cadences per label; reviewers stop a lead's follow-ups."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from pipeline.followups import LABELS, MAX_STEPS, cadence_problem, current_cadences, stop_follow_ups
from pipeline.ids import parse_id
from pipeline.models import CadenceConfig, Lead, VersionConflict
from pipeline.owners import reassign_owner
from review import queries
from review.views import REVIEW, staff

CHANGE = "pipeline.change_settings"
LABEL_NAMES = {"high_intent": "High intent", "low_intent": "Low intent"}


class CadenceForm(forms.Form):
    """Each label's steps as rows of fields: day (blank: no step), instruction, auto-send."""

    based_on = forms.IntegerField(required=False, widget=forms.HiddenInput)
    note = forms.CharField(required=False, max_length=300)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        for label in LABELS:
            for index in range(MAX_STEPS):
                prefix = f"{label}-{index}"
                self.fields[f"{prefix}-day"] = forms.IntegerField(
                    required=False, min_value=1, max_value=90, label="Day"
                )
                self.fields[f"{prefix}-instruction"] = forms.CharField(
                    required=False, max_length=500, label="Instruction for the drafting agent"
                )
                self.fields[f"{prefix}-auto_send"] = forms.BooleanField(
                    required=False, label="May auto-send"
                )

    @classmethod
    def for_cadences(cls, cadences: dict, version: int | None) -> CadenceForm:
        initial: dict = {"based_on": version}
        for label in LABELS:
            for index, step in enumerate(cadences.get(label, [])[:MAX_STEPS]):
                prefix = f"{label}-{index}"
                initial[f"{prefix}-day"] = step.get("day")
                initial[f"{prefix}-instruction"] = step.get("instruction", "")
                initial[f"{prefix}-auto_send"] = bool(step.get("auto_send"))
        return cls(initial=initial)

    def cadences(self) -> dict[str, list[dict]]:
        data = self.cleaned_data
        found: dict[str, list[dict]] = {}
        for label in LABELS:
            steps = []
            for index in range(MAX_STEPS):
                prefix = f"{label}-{index}"
                if data.get(f"{prefix}-day") is None:
                    continue
                steps.append(
                    {
                        "day": data[f"{prefix}-day"],
                        "instruction": data.get(f"{prefix}-instruction", "").strip(),
                        "auto_send": bool(data.get(f"{prefix}-auto_send")),
                    }
                )
            found[label] = steps
        return found

    def clean(self):
        data = super().clean()
        if not self.errors:
            problem = cadence_problem(self.cadences())
            if problem:
                raise forms.ValidationError(problem)
        return data

    def rows(self):
        """(label name, [(day, instruction, auto_send) bound fields per row]) for the template."""
        return [
            (
                LABEL_NAMES[label],
                [
                    tuple(
                        self[f"{label}-{index}-{name}"]
                        for name in ("day", "instruction", "auto_send")
                    )
                    for index in range(MAX_STEPS)
                ],
            )
            for label in LABELS
        ]


@staff(CHANGE)
@require_http_methods(["GET", "POST"])
def cadences(request: HttpRequest) -> HttpResponse:
    current, version = current_cadences()
    status = 200
    if request.method == "POST":
        form = CadenceForm(request.POST)
        if form.is_valid():
            try:
                row = CadenceConfig.save_version(
                    {"cadences": form.cadences()},
                    by=request.user,
                    note=form.cleaned_data["note"],
                    based_on=form.cleaned_data["based_on"] or 0,
                )
            except VersionConflict as conflict:
                messages.warning(request, str(conflict))
                return redirect("review:cadences")
            messages.success(request, f"Cadences saved as version {row.version}.")
            return redirect("review:cadences")
        status = 422
    else:
        form = CadenceForm.for_cadences(current, version)
    versions = CadenceConfig.objects.select_related("created_by").order_by("-pk")[:20]
    context = {"nav": "cadences", "form": form, "version": version, "versions": versions}
    return render(request, "review/cadences.html", context, status=status)


@staff(REVIEW)
@require_POST
def stop_lead_follow_ups(request: HttpRequest, pk: int) -> HttpResponse:
    lead = get_object_or_404(Lead, pk=pk)
    reason = " ".join(request.POST.get("reason", "").split())[:200]
    stopped = stop_follow_ups(
        lead,
        f"stopped by {request.user.get_username()}" + (f": {reason}" if reason else ""),
        by=request.user,
    )
    if stopped:
        messages.success(request, "Follow-ups stopped: nothing more will be sent.")
    else:
        messages.info(request, "No follow-ups were running.")
    return redirect("review:lead", lead.pk)


@staff(REVIEW)
@require_POST
def lead_owner(request: HttpRequest, pk: int) -> HttpResponse:
    lead = get_object_or_404(Lead, pk=pk)
    chosen = request.POST.get("owner", "")
    owner = None
    if chosen:
        # The people the page offers: active reviewers. Not any account (one deactivated, one
        # without rights), which would then get the lead's notifications.
        owner = queries.reviewers().filter(pk=parse_id(chosen)).first()
        if owner is None:
            messages.error(request, "Only an active reviewer can own a lead.")
            return redirect("review:lead", lead.pk)
    if reassign_owner(lead, owner, by=request.user):
        messages.success(request, f"Owner: {owner.get_username() if owner else 'nobody'}.")
    return redirect("review:lead", lead.pk)
