"""Forms of the staff pages: parse and validate requests; no domain rules here."""

from __future__ import annotations

from typing import get_args

from django import forms
from django.contrib.auth import get_user_model

from pipeline.ids import parse_id
from pipeline.models import PipelineRun, StepRun
from pipeline.schemas import Flag
from review.dashboard import DRAFT_OUTCOMES
from review.queries import AGE_FILTERS, QUEUE_ORDER

LABEL_CHOICES = [
    ("high_intent", "High intent"),
    ("low_intent", "Low intent"),
    ("spam", "Spam"),
    ("wrong_fit", "Wrong fit"),
]
# Every flag an agent can set, in the order the schema declares them ("free_email" -> "Free email").
FLAG_CHOICES = [(flag, flag.replace("_", " ").capitalize()) for flag in get_args(Flag)]
REJECT_REASONS = [
    ("Not a fit for us", "Not a fit for us"),
    ("Spam or a bot", "Spam or a bot"),
    ("Already in contact with us", "Already in contact with us"),
    ("Duplicate or wrong person", "Duplicate or wrong person"),
    ("Job applicant, vendor or press: routed elsewhere", "Job applicant, vendor or press"),
    ("I will write this reply myself", "I will write this reply myself"),
]
REGENERATE_SUGGESTIONS = [
    "shorter",
    "more formal",
    "friendlier",
    "mention the EU hosting",
    "answer their question first",
    "propose two time slots",
]


class QueueFilterForm(forms.Form):
    q = forms.CharField(
        required=False,
        max_length=200,
        label="Search",
        widget=forms.TextInput(
            attrs={"type": "search", "placeholder": "Name, email or company", "autocomplete": "off"}
        ),
    )
    label = forms.ChoiceField(required=False, choices=[("", "All labels"), *LABEL_CHOICES])
    flag = forms.ChoiceField(
        required=False, label="Flag", choices=[("", "Any flag"), *FLAG_CHOICES]
    )
    source = forms.ChoiceField(required=False, choices=[("", "All sources")])
    age = forms.ChoiceField(
        required=False,
        choices=[
            ("", "Any age"),
            ("1h", "Last hour"),
            ("24h", "Last 24 hours"),
            ("older", "Older than a day"),
            ("3d", "Older than 3 days"),
        ],
    )
    sort = forms.ChoiceField(
        required=False,
        choices=[
            ("score", "Highest score"),
            ("oldest", "Oldest first"),
            ("newest", "Newest first"),
        ],
    )
    mine = forms.BooleanField(required=False, label="Assigned to me")

    def __init__(self, *args, source_choices=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["source"].choices = [("", "All sources"), *source_choices]
        for name in ("label", "flag", "source", "age", "sort"):
            self.fields[name].widget.attrs["aria-label"] = self.fields[name].label or name

    def filters(self) -> dict:
        """The valid filters; an invalid value falls back to "no filter" rather than an error."""
        data = self.cleaned_data if self.is_valid() else {}
        age = data.get("age") or ""
        sort = data.get("sort") or "score"
        return {
            "q": (data.get("q") or "").strip(),
            "label": data.get("label") or "",
            "flag": data.get("flag") or "",
            "source": data.get("source") or "",
            "age": age if age in AGE_FILTERS else "",
            "sort": sort if sort in QUEUE_ORDER else "score",
            "mine": bool(data.get("mine")),
        }


class VersionForm(forms.Form):
    version = forms.IntegerField(min_value=1, widget=forms.HiddenInput)


class EditForm(VersionForm):
    subject = forms.CharField(max_length=300, strip=True)
    body = forms.CharField(widget=forms.Textarea(attrs={"rows": 14}), strip=False)


class ApproveForm(VersionForm):
    """Approve as is, or with the text of the inline editor (both fields then present)."""

    subject = forms.CharField(max_length=300, required=False, strip=True)
    body = forms.CharField(required=False, strip=False)

    def text(self) -> tuple[str | None, str | None]:
        if "subject" in self.data and "body" in self.data:
            return self.cleaned_data["subject"], self.cleaned_data["body"]
        return None, None


class RejectForm(VersionForm):
    reason_choice = forms.ChoiceField(
        required=False, label="Reason", choices=[("", "Pick a reason…"), *REJECT_REASONS]
    )
    reason_text = forms.CharField(
        required=False,
        max_length=500,
        label="Note (optional)",
        widget=forms.TextInput(attrs={"placeholder": "A note, kept beside the reason"}),
    )

    def clean(self):
        cleaned = super().clean()
        reason = reject_reason(cleaned.get("reason_choice") or "", cleaned.get("reason_text") or "")
        if not reason:
            raise forms.ValidationError("Pick or type a reason.")
        cleaned["reason"] = reason
        return cleaned


class RegenerateForm(forms.Form):
    version = forms.IntegerField(min_value=1, required=False, widget=forms.HiddenInput)
    instruction = forms.CharField(
        required=False,
        max_length=500,
        widget=forms.TextInput(
            attrs={
                "list": "regenerate-suggestions",
                "placeholder": "e.g. shorter; mention the EU hosting",
            }
        ),
    )


class ReassignForm(forms.Form):
    to = forms.ModelChoiceField(
        queryset=get_user_model().objects.none(), required=False, empty_label="Nobody"
    )

    def __init__(self, *args, reviewers=None, **kwargs):
        super().__init__(*args, **kwargs)
        if reviewers is not None:
            self.fields["to"].queryset = reviewers
        self.fields["to"].widget.attrs["aria-label"] = "Assign to"


class LeadFilterForm(forms.Form):
    q = forms.CharField(
        required=False,
        max_length=200,
        widget=forms.TextInput(attrs={"type": "search", "placeholder": "Name, email or company"}),
    )
    label = forms.ChoiceField(
        required=False, choices=[("", "All labels"), *LABEL_CHOICES, ("none", "No label")]
    )
    # The dashboard's links: leads received in a period, from a source, with a draft outcome.
    since = forms.DateField(required=False, widget=forms.HiddenInput)
    until = forms.DateField(required=False, widget=forms.HiddenInput)
    source = forms.CharField(required=False, max_length=120, widget=forms.HiddenInput)
    draft = forms.ChoiceField(
        required=False,
        choices=[("", "")] + [(key, key) for key in DRAFT_OUTCOMES],
        widget=forms.HiddenInput,
    )


class RunFilterForm(forms.Form):
    status = forms.ChoiceField(
        required=False, choices=[("", "Any status"), *PipelineRun.Status.choices]
    )
    # The dashboard's links: runs created in a period whose step ended in a state (and error).
    since = forms.DateField(required=False, widget=forms.HiddenInput)
    until = forms.DateField(required=False, widget=forms.HiddenInput)
    step = forms.CharField(required=False, max_length=80, widget=forms.HiddenInput)
    step_status = forms.ChoiceField(
        required=False, choices=[("", ""), *StepRun.Status.choices], widget=forms.HiddenInput
    )
    error = forms.CharField(required=False, max_length=200, widget=forms.HiddenInput)


class BulkRetryForm(forms.Form):
    step = forms.CharField(max_length=80)
    error = forms.CharField(max_length=200, strip=False)


SNOOZE_PRESETS = {
    "1h": "For an hour",
    "tomorrow": "Until tomorrow 9:00",
    "monday": "Until Monday 9:00",
}


class SnoozeForm(forms.Form):
    preset = forms.ChoiceField(required=False, choices=[("", "")] + list(SNOOZE_PRESETS.items()))
    until = forms.DateTimeField(
        required=False,
        label="Until",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        input_formats=["%Y-%m-%dT%H:%M"],
    )

    def clean(self):
        from datetime import datetime, time, timedelta

        from django.utils import timezone

        cleaned = super().clean()
        now = timezone.localtime()
        preset = cleaned.get("preset")
        nine = time(9, 0)
        if preset == "1h":
            cleaned["moment"] = now + timedelta(hours=1)
        elif preset == "tomorrow":
            day = now.date() + timedelta(days=1)
            cleaned["moment"] = timezone.make_aware(datetime.combine(day, nine))
        elif preset == "monday":
            day = now.date() + timedelta(days=(7 - now.weekday()) or 7)
            cleaned["moment"] = timezone.make_aware(datetime.combine(day, nine))
        elif cleaned.get("until"):
            cleaned["moment"] = cleaned["until"]
        else:
            raise forms.ValidationError("Pick when the draft should come back.")
        return cleaned


class BulkForm(forms.Form):
    """Several queue rows at once: each id carries the version the reviewer saw ("pk.version")."""

    ACTIONS = [("reject", "Reject"), ("assign", "Assign")]

    drafts = forms.MultipleChoiceField(
        choices=[],
        required=True,
        error_messages={
            "required": "Select at least one draft (click its box, or press x on its row)."
        },
    )
    action = forms.ChoiceField(choices=ACTIONS)
    reason_choice = forms.ChoiceField(
        required=False, label="Reason", choices=[("", "Pick a reason…"), *REJECT_REASONS]
    )
    reason_text = forms.CharField(required=False, max_length=500, label="Note")
    to = forms.ModelChoiceField(
        queryset=get_user_model().objects.none(), required=False, empty_label="Nobody"
    )
    confirmed = forms.BooleanField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args, reviewers=None, **kwargs):
        super().__init__(*args, **kwargs)
        values = self.data.getlist("drafts") if hasattr(self.data, "getlist") else []
        self.fields["drafts"].choices = [(value, value) for value in values]
        if reviewers is not None:
            self.fields["to"].queryset = reviewers

    def clean_drafts(self) -> list[tuple[int, int]]:
        pairs = []
        for value in self.cleaned_data["drafts"]:
            pk, _, version = value.partition(".")
            pk, version = parse_id(pk), parse_id(version)
            if pk is None or version is None:
                raise forms.ValidationError("A selected draft could not be read; reload the page.")
            pairs.append((pk, version))
        return pairs[:200]

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("action") == "reject":
            reason = cleaned.get("reason_choice") or ""
            note = (cleaned.get("reason_text") or "").strip()
            if not reason and not note:
                raise forms.ValidationError("Pick or type a reason for the rejection.")
            cleaned["reason"] = reject_reason(reason, note)
        return cleaned


def reject_reason(category: str, note: str) -> str:
    """The picked category and the typed note, side by side (neither replaces the other)."""
    category, note = category.strip(), " ".join(note.split())
    if category and note:
        return f"{category}: {note}"
    return category or note
