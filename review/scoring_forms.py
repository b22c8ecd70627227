"""Forms of the scoring pages: criteria (a formset), thresholds, the company profile, the
what-if and calibration parameters. They parse and validate; errors sit beside their field."""

from __future__ import annotations

import re

from django import forms
from django.utils.text import slugify

from pipeline.agents.score import CHECKS
from pipeline.scoring import calibration, whatif
from review.forms import LABEL_CHOICES

LABELS = [value for value, _ in LABEL_CHOICES]

# How each check reads on the page, grouped the way admins think about them.
KIND_NAMES = {
    "employees_between": "Employees in a range (enrichment)",
    "employees_at_least": "Employees at least (enrichment)",
    "sector_in": "Sector in a list (enrichment)",
    "country_in": "Country in a list (enrichment)",
    "tech_stack_any": "Tech stack contains any of (enrichment)",
    "company_found": "Company website found (enrichment)",
    "business_email": "Business email (not free-mail or throwaway)",
    "label_in": "Classification label in a list",
    "intent": "Buying intent (the classifier's label)",
    "message_mentions": "Message mentions any of these phrases",
    "judged": "Judged from a rubric",
    "timeline": "Mentions a timeline",
    "budget": "Mentions budget or pricing",
    "team_size": "States a team size of at least",
    "seniority": "A decision maker writes",
    "company_given": "Company name or website given",
    "phone_given": "Phone number given",
}
# The parameters each kind needs; kinds not listed take none.
KIND_PARAMS = {
    "employees_between": ("min", "max"),
    "employees_at_least": ("min",),
    "team_size": ("min",),
    "sector_in": ("values",),
    "country_in": ("values",),
    "tech_stack_any": ("values",),
    "label_in": ("values",),
    "message_mentions": ("keywords",),
    "judged": ("keywords",),
}
REQUIRED_PARAMS = {
    "employees_at_least": ("min",),
    "team_size": ("min",),
    "sector_in": ("values",),
    "country_in": ("values",),
    "tech_stack_any": ("values",),
    "label_in": ("values",),
    "message_mentions": ("keywords",),
}


def kind_choices() -> list[tuple[str, str]]:
    known = [(name, label) for name, label in KIND_NAMES.items() if name in CHECKS]
    # A check added in code later still shows up, under its own description.
    extra = [(name, spec.description) for name, spec in CHECKS.items() if name not in KIND_NAMES]
    return known + extra


def split_list(text: str) -> list[str]:
    """One item per line or comma; blanks and repeats dropped, order kept."""
    items = [item.strip() for item in re.split(r"[\n,]", text or "")]
    return list(dict.fromkeys(item for item in items if item))


class CriterionForm(forms.Form):
    key = forms.CharField(required=False, max_length=40, widget=forms.HiddenInput)
    label = forms.CharField(max_length=120, label="Name")
    points = forms.IntegerField(min_value=-100, max_value=100)
    check = forms.ChoiceField(
        label="Kind", choices=lambda: [("", "Choose a kind…"), *kind_choices()]
    )
    min = forms.IntegerField(required=False, min_value=0, label="At least")
    max = forms.IntegerField(required=False, min_value=0, label="At most")
    values = forms.CharField(
        required=False,
        label="Any of",
        max_length=2000,
        widget=forms.TextInput(attrs={"placeholder": "one per comma, e.g. Software, SaaS"}),
    )
    keywords = forms.CharField(
        required=False,
        label="Phrases",
        max_length=2000,
        widget=forms.TextInput(attrs={"placeholder": "e.g. demo, Vorführung, démonstration"}),
    )
    question = forms.CharField(
        required=False,
        label="Rubric",
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 2}),
    )

    def clean(self):
        cleaned = super().clean()
        check = cleaned.get("check")
        if not check:
            return cleaned
        for name in REQUIRED_PARAMS.get(check, ()):
            if name in ("values", "keywords"):
                if not split_list(cleaned.get(name, "")):
                    self.add_error(name, "List at least one.")
            elif cleaned.get(name) is None and name not in self.errors:
                self.add_error(name, "Required for this kind.")
        if check == "employees_between":
            low, high = cleaned.get("min"), cleaned.get("max")
            if low is None and high is None and "min" not in self.errors:
                self.add_error("min", "Give at least one end of the range.")
            elif low is not None and high is not None and low > high:
                self.add_error("max", f"Must be at least {low}.")
        if check == "label_in":
            unknown = [v for v in split_list(cleaned.get("values", "")) if v not in LABELS]
            if unknown:
                self.add_error(
                    "values", f"Unknown label {unknown[0]!r}; one of {', '.join(LABELS)}."
                )
        if check == "judged" and not (cleaned.get("question") or "").strip():
            self.add_error("question", "Write the rubric Claude judges by.")
        return cleaned

    def criterion(self) -> dict:
        data = self.cleaned_data
        check = data["check"]
        params: dict = {}
        for name in KIND_PARAMS.get(check, ()):
            if name in ("values", "keywords"):
                if split_list(data.get(name, "")):
                    params[name] = split_list(data[name])
            elif data.get(name) is not None:
                params[name] = data[name]
        criterion = {
            "key": data.get("key") or "",
            "label": data["label"].strip(),
            "points": data["points"],
            "check": check,
        }
        if params:
            criterion["params"] = params
        if CHECKS[check].is_reading and (data.get("question") or "").strip():
            criterion["question"] = data["question"].strip()
        return criterion

    @staticmethod
    def initial_for(criterion: dict) -> dict:
        params = criterion.get("params") or {}
        return {
            "key": criterion.get("key", ""),
            "label": criterion.get("label", ""),
            "points": criterion.get("points", 0),
            "check": criterion.get("check", ""),
            "min": params.get("min"),
            "max": params.get("max"),
            "values": ", ".join(str(v) for v in params.get("values", [])),
            "keywords": ", ".join(str(v) for v in params.get("keywords", [])),
            "question": criterion.get("question", ""),
        }


class BaseCriteriaFormSet(forms.BaseFormSet):
    def kept_forms(self) -> list[CriterionForm]:
        """Not removed, and not the blank row a page without JavaScript offers for adding one."""
        ordered = self.ordered_forms if self.can_order else self.forms
        return [
            form
            for form in ordered
            if not self._should_delete_form(form)
            and (self.forms.index(form) < self.initial_form_count() or form.has_changed())
        ]

    def clean(self):
        if any(self.errors):
            return
        seen: set[str] = set()
        kept = self.kept_forms()
        if not kept:
            raise forms.ValidationError("Keep at least one criterion.")
        if sum(max(0, form.cleaned_data.get("points") or 0) for form in kept) <= 0:
            raise forms.ValidationError("At least one criterion must give points.")
        for form in kept:
            label = form.cleaned_data["label"].strip()
            key = form.cleaned_data.get("key") or _key_for(label)
            if key in seen or label.casefold() in seen:
                form.add_error("label", "Another criterion already has this name.")
                continue
            seen.update((key, label.casefold()))
            form.cleaned_data["key"] = key

    def criteria(self) -> list[dict]:
        """The kept criteria, in the order the admin gave them."""
        return [form.criterion() for form in self.kept_forms()]


def _key_for(label: str) -> str:
    key = slugify(label).replace("-", "_")[:40].strip("_")
    return key or "criterion"


CriteriaFormSet = forms.formset_factory(
    CriterionForm,
    formset=BaseCriteriaFormSet,
    extra=1,
    can_delete=True,
    can_order=True,
    max_num=40,
    validate_max=True,
)


class BasedOnForm(forms.Form):
    """The version the editor started from: saving over a newer one is a conflict."""

    based_on = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)
    note = forms.CharField(
        required=False,
        max_length=300,
        label="Note",
        widget=forms.TextInput(attrs={"placeholder": "Why this change (shown in the history)"}),
    )


class PreviewForm(forms.Form):
    preview_leads = forms.IntegerField(
        required=False,
        min_value=1,
        max_value=whatif.MAX_LEADS,
        initial=whatif.DEFAULT_LEADS,
        label="Leads to re-score",
    )

    def leads(self) -> int:
        return (self.cleaned_data.get("preview_leads") if self.is_valid() else None) or (
            whatif.DEFAULT_LEADS
        )


class ThresholdsForm(forms.Form):
    auto_send_threshold = forms.IntegerField(min_value=0, max_value=100, label="Auto-send score")
    auto_send_min_confidence = forms.FloatField(
        min_value=0, max_value=1, label="Classifier confidence an auto-send needs"
    )
    auto_send_labels = forms.MultipleChoiceField(
        required=False,
        choices=[c for c in LABEL_CHOICES if c[0] in ("high_intent", "low_intent")],
        widget=forms.CheckboxSelectMultiple,
        label="Labels that may ever be auto-sent",
    )
    review_floor = forms.IntegerField(
        min_value=0, max_value=100, label="Review floor (low intent below it gets no draft)"
    )


class ProfileForm(forms.Form):
    company_name = forms.CharField(max_length=200)
    what_we_sell = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}))
    tone = forms.CharField(max_length=300)
    sender_name = forms.CharField(max_length=200)
    sender_email = forms.EmailField(
        max_length=254,
        required=False,
        label="Sender address",
        help_text="Replies go out from this address with the sender's name (empty: the "
        "server's DEFAULT_FROM_EMAIL address). The mail server must be allowed to send for "
        "its domain.",
    )
    signature = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}))
    booking_link = forms.URLField(max_length=500, required=False, assume_scheme="https")
    facts = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 5}),
        help_text="One per line. A draft may state these and nothing else about us.",
    )
    careers_url = forms.URLField(max_length=500, required=False, assume_scheme="https")
    support_url = forms.URLField(max_length=500, required=False, assume_scheme="https")
    partnerships_email = forms.EmailField(max_length=320, required=False)

    def values(self) -> dict:
        data = dict(self.cleaned_data)
        data["facts"] = [line.strip() for line in data["facts"].splitlines() if line.strip()]
        return data

    @staticmethod
    def initial_for(values: dict) -> dict:
        return {**values, "facts": "\n".join(values.get("facts") or [])}


class CalibrationForm(forms.Form):
    since = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    target = forms.IntegerField(
        required=False,
        min_value=50,
        max_value=100,
        initial=round(calibration.DEFAULT_PRECISION * 100),
        label="Target precision (%)",
    )
