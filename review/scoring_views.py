"""The scoring pages: criteria, thresholds, the company profile, versions, what-if preview,
calibration and re-scoring what waits. Admins (change_settings) edit; Reviewers read, and get
403 on every POST. A save names the version it started from: 409 when someone saved since,
422 with the errors beside their fields when the input is wrong."""

from __future__ import annotations

from datetime import datetime, time, timedelta

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from pipeline.agents.defaults import AUTO_SEND_DEFAULTS, DEFAULT_COMPANY_PROFILE, DEFAULT_CRITERIA
from pipeline.agents.score import CHECKS
from pipeline.models import CompanyProfile, Draft, RescoreJob, ScoringConfig, VersionConflict
from pipeline.scoring import calibration, rescore, versions, whatif
from review.scoring_forms import (
    KIND_PARAMS,
    BasedOnForm,
    CalibrationForm,
    CriteriaFormSet,
    CriterionForm,
    PreviewForm,
    ProfileForm,
    ThresholdsForm,
)
from review.views import staff

VIEW = "pipeline.view_scoringconfig"
CHANGE = "pipeline.change_settings"
TABS = ("criteria", "thresholds", "profile", "versions", "calibration")


def _scoring_values(config: ScoringConfig | None) -> dict:
    if config is None:
        return {
            "criteria": list(DEFAULT_CRITERIA),
            "auto_send_threshold": AUTO_SEND_DEFAULTS.threshold,
            "auto_send_labels": list(AUTO_SEND_DEFAULTS.labels),
            "auto_send_min_confidence": 0.8,
            "review_floor": 0,
        }
    return config.values()


def _profile_values(profile: CompanyProfile | None) -> dict:
    if profile is None:
        return {
            name: DEFAULT_COMPANY_PROFILE.get(name, "") for name in CompanyProfile.SETTINGS_FIELDS
        }
    return profile.values()


def _criteria_formset(config, data=None) -> CriteriaFormSet:
    if data is not None:
        return CriteriaFormSet(data, prefix="criteria")
    initial = [
        {**CriterionForm.initial_for(c), "ORDER": i + 1}
        for i, c in enumerate(_scoring_values(config)["criteria"])
    ]
    return CriteriaFormSet(initial=initial, prefix="criteria")


def _points_available(criteria: list[dict]) -> int:
    return sum(max(0, int(c.get("points") or 0)) for c in criteria)


def _page(request: HttpRequest, tab: str, *, status: int = 200, **extra) -> HttpResponse:
    """The whole page; `extra` replaces the default forms (bound ones keep their errors)."""
    config = ScoringConfig.current()
    profile = CompanyProfile.current()
    values = _scoring_values(config)
    scoring_version = {"based_on": config.version if config else None}
    context = {
        "nav": "scoring",
        "tab": tab if tab in TABS else "criteria",
        "tabs": TABS,
        "can_edit": request.user.has_perm(CHANGE),
        "config": config,
        "profile": profile,
        "formset": _criteria_formset(config),
        "points_available": _points_available(values["criteria"]),
        "kind_params": KIND_PARAMS,
        "reading_kinds": [name for name, spec in CHECKS.items() if spec.is_reading],
        "criteria_based_on": BasedOnForm(initial=scoring_version),
        "preview_form": PreviewForm(),
        "thresholds_form": ThresholdsForm(initial=values),
        "thresholds_based_on": BasedOnForm(initial=scoring_version),
        "profile_form": ProfileForm(initial=ProfileForm.initial_for(_profile_values(profile))),
        "profile_based_on": BasedOnForm(initial={"based_on": profile.version if profile else None}),
        "job": RescoreJob.objects.order_by("-pk").first(),
        "pending_drafts": Draft.objects.filter(status=Draft.Status.PENDING).count(),
        "action_names": whatif.ACTION_NAMES.values(),
    }
    context.update(extra)
    if context["tab"] == "versions":
        context["scoring_history"] = versions.version_history(ScoringConfig)
        context["profile_history"] = versions.version_history(CompanyProfile)
    if context["tab"] == "calibration":
        context.update(_calibration(request, config))
    return render(request, "review/scoring.html", context, status=status)


def _calibration(request: HttpRequest, config: ScoringConfig | None) -> dict:
    form = CalibrationForm(request.GET or None)
    data = form.cleaned_data if form.is_bound and form.is_valid() else {}
    today = timezone.localdate()
    since = data.get("since") or today - timedelta(days=90)
    until = data.get("until") or today
    target = (data.get("target") or round(calibration.DEFAULT_PRECISION * 100)) / 100
    zone = timezone.get_current_timezone()
    period = {
        "version": config.version if config else None,
        "since": datetime.combine(since, time.min, tzinfo=zone),
        "until": datetime.combine(until + timedelta(days=1), time.min, tzinfo=zone),
    }
    rows = calibration.outcome_rows(**period)
    reported = calibration.reported_outcomes(**period)
    labels = list(config.auto_send_labels) if config else list(AUTO_SEND_DEFAULTS.labels)
    return {
        "calibration_form": form
        if form.is_bound
        else CalibrationForm(
            initial={"since": since, "until": until, "target": round(target * 100)}
        ),
        "calibration": calibration.calibrate(rows, auto_send_labels=labels, target=target),
        "reported_outcomes": reported,
        "reported_leads": sum(band.leads for band in reported),
        "calibration_since": since,
        "calibration_until": until,
        "min_evidence": calibration.MIN_EVIDENCE,
    }


@staff(VIEW)
@require_GET
def scoring(request: HttpRequest) -> HttpResponse:
    return _page(request, request.GET.get("tab", "criteria"))


def _save(request, model, values: dict, based_on: BasedOnForm, tab: str, **forms):
    try:
        row = model.save_version(
            values,
            by=request.user,
            note=based_on.cleaned_data["note"],
            based_on=based_on.cleaned_data["based_on"],
        )
    except VersionConflict as conflict:
        notice = {"level": "warning", "text": str(conflict)}
        return _page(request, tab, status=409, notice=notice, **forms)
    messages.success(request, f"Saved as version {row.version}.")
    return redirect(f"{reverse('review:scoring')}?tab={tab}")


def _invalid(request, tab: str, **forms) -> HttpResponse:
    notice = {"level": "error", "text": "Not saved: please correct the fields marked below."}
    return _page(request, tab, status=422, notice=notice, **forms)


@staff(CHANGE)
@require_POST
def criteria_save(request: HttpRequest) -> HttpResponse:
    formset = CriteriaFormSet(request.POST, prefix="criteria")
    based_on = BasedOnForm(request.POST)
    forms = {"formset": formset, "criteria_based_on": based_on}
    if not (formset.is_valid() and based_on.is_valid()):
        return _invalid(request, "criteria", **forms)
    values = {**_scoring_values(ScoringConfig.current()), "criteria": formset.criteria()}
    return _save(request, ScoringConfig, values, based_on, "criteria", **forms)


@staff(CHANGE)
@require_POST
def thresholds_save(request: HttpRequest) -> HttpResponse:
    form = ThresholdsForm(request.POST)
    based_on = BasedOnForm(request.POST)
    forms = {"thresholds_form": form, "thresholds_based_on": based_on}
    if not (form.is_valid() and based_on.is_valid()):
        return _invalid(request, "thresholds", **forms)
    values = {**_scoring_values(ScoringConfig.current()), **form.cleaned_data}
    return _save(request, ScoringConfig, values, based_on, "thresholds", **forms)


@staff(CHANGE)
@require_POST
def profile_save(request: HttpRequest) -> HttpResponse:
    form = ProfileForm(request.POST)
    based_on = BasedOnForm(request.POST)
    forms = {"profile_form": form, "profile_based_on": based_on}
    if not (form.is_valid() and based_on.is_valid()):
        return _invalid(request, "profile", **forms)
    return _save(request, CompanyProfile, form.values(), based_on, "profile", **forms)


@staff(CHANGE)
@require_POST
def restore(request: HttpRequest, kind: str, version: int) -> HttpResponse:
    model = {"scoring": ScoringConfig, "profile": CompanyProfile}.get(kind)
    if model is None:
        return HttpResponse("Unknown kind of settings.", status=404)
    get_object_or_404(model, pk=version)
    based_on = BasedOnForm(request.POST)
    if not based_on.is_valid():
        return HttpResponse("Bad version.", status=422)
    try:
        row = versions.restore_version(
            model, version, by=request.user, based_on=based_on.cleaned_data["based_on"]
        )
    except VersionConflict as conflict:
        return _page(
            request, "versions", status=409, notice={"level": "warning", "text": str(conflict)}
        )
    messages.success(request, f"Version {version} restored as version {row.version}.")
    return redirect(f"{reverse('review:scoring')}?tab=versions")


@staff(CHANGE)
@require_POST
def preview(request: HttpRequest) -> HttpResponse:
    """Re-score recent decided leads with the form's unsaved values; writes nothing."""
    values = _scoring_values(ScoringConfig.current())
    preview_form = PreviewForm(request.POST)
    extra: dict = {"preview_form": preview_form}
    tab = "criteria"
    if "criteria-TOTAL_FORMS" in request.POST:
        formset = CriteriaFormSet(request.POST, prefix="criteria")
        extra["formset"] = formset
        if formset.is_valid():
            values["criteria"] = formset.criteria()
    if "auto_send_threshold" in request.POST:
        tab = "thresholds"
        form = ThresholdsForm(request.POST)
        extra["thresholds_form"] = form
        if form.is_valid():
            values.update(form.cleaned_data)
    invalid = any(not form.is_valid() for key, form in extra.items() if key != "preview_form")
    if invalid or not preview_form.is_valid():
        extra["preview_error"] = "No preview: please correct the fields marked in the form."
        status = 422
    else:
        extra["preview"] = whatif.preview(ScoringConfig(**values), limit=preview_form.leads())
        extra["preview_points"] = _points_available(values["criteria"])
        status = 200
    if request.htmx:
        return render(
            request,
            "review/scoring.html#preview",
            {"action_names": whatif.ACTION_NAMES.values(), **extra},
            status=status,
        )
    return _page(request, tab, status=status, **extra)


@staff(CHANGE)
@require_POST
def rescore_start(request: HttpRequest) -> HttpResponse:
    config = ScoringConfig.current()
    if config is None:
        messages.error(request, "Save a scoring version first.")
        return redirect("review:scoring")
    job = rescore.start_rescore(config, by=request.user)
    if request.htmx:
        return render(request, "review/scoring.html#rescore-job", {"job": job, "can_edit": True})
    return redirect("review:scoring")


@staff(VIEW)
@require_GET
def rescore_status(request: HttpRequest, pk: int) -> HttpResponse:
    job = get_object_or_404(RescoreJob, pk=pk)
    context = {"job": job, "can_edit": request.user.has_perm(CHANGE)}
    return render(request, "review/scoring.html#rescore-job", context)


@staff(CHANGE)
@require_POST
def rescore_confirm(request: HttpRequest, pk: int) -> HttpResponse:
    job = get_object_or_404(RescoreJob, pk=pk)
    approved, skipped = rescore.confirm_rescore(job, by=request.user)
    if approved or skipped:
        text = f"Approved {approved} replies for sending."
        if skipped:
            text += f" {skipped} changed since the re-score and were left in the queue."
        messages.success(request, text)
    else:
        messages.info(request, "Nothing to confirm: this re-score was already confirmed.")
    return redirect("review:scoring")
