"""Forms of the staff pages: parse and validate requests; no domain rules here."""

from __future__ import annotations

from django import forms
from django.contrib.auth import get_user_model

from pipeline.models import PipelineRun
from review.queries import AGE_FILTERS, QUEUE_ORDER

LABEL_CHOICES = [
    ("high_intent", "High intent"),
    ("low_intent", "Low intent"),
    ("spam", "Spam"),
    ("wrong_fit", "Wrong fit"),
]
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
        for name in ("label", "source", "age", "sort"):
            self.fields[name].widget.attrs["aria-label"] = self.fields[name].label or name

    def filters(self) -> dict:
        """The valid filters; an invalid value falls back to "no filter" rather than an error."""
        data = self.cleaned_data if self.is_valid() else {}
        age = data.get("age") or ""
        sort = data.get("sort") or "score"
        return {
            "q": (data.get("q") or "").strip(),
            "label": data.get("label") or "",
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
        label="Or in your words",
        widget=forms.TextInput(attrs={"placeholder": "Typed reason (wins over the list)"}),
    )

    def clean(self):
        cleaned = super().clean()
        reason = (cleaned.get("reason_text") or "").strip() or cleaned.get("reason_choice") or ""
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
    label = forms.ChoiceField(required=False, choices=[("", "All labels"), *LABEL_CHOICES])


class RunFilterForm(forms.Form):
    status = forms.ChoiceField(
        required=False, choices=[("", "Any status"), *PipelineRun.Status.choices]
    )
