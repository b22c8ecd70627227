"""Forms of the pipeline app's public pages. The rules live in pipeline.intake.normalize."""

from django import forms

from pipeline.intake.errors import InvalidLead
from pipeline.intake.normalize import LEAD_FIELDS, MAX_LENGTHS, clean_lead_fields

HONEYPOT_FIELD = "contact_me_by_fax_only"


class LeadForm(forms.Form):
    """The hosted lead form: our six fields, a honeypot, and the signed form token."""

    name = forms.CharField(
        label="Name", required=False, strip=False, max_length=MAX_LENGTHS["name"]
    )
    email = forms.CharField(
        label="Work email",
        required=False,
        max_length=MAX_LENGTHS["email"],
        widget=forms.EmailInput(attrs={"autocomplete": "email"}),
    )
    company = forms.CharField(
        label="Company", required=False, strip=False, max_length=MAX_LENGTHS["company"]
    )
    website = forms.CharField(
        label="Company website",
        required=False,
        max_length=MAX_LENGTHS["website"],
        widget=forms.TextInput(attrs={"inputmode": "url", "autocomplete": "url"}),
    )
    phone = forms.CharField(
        label="Phone",
        required=False,
        max_length=MAX_LENGTHS["phone"],
        widget=forms.TextInput(attrs={"type": "tel", "autocomplete": "tel"}),
    )
    message = forms.CharField(
        label="How can we help?",
        required=False,
        strip=False,
        max_length=MAX_LENGTHS["message"],
        widget=forms.Textarea,
    )
    # Hidden from people by the `hidden` attribute on its wrapper; bots fill in every field.
    contact_me_by_fax_only = forms.CharField(
        label="Leave this field empty",
        required=False,
        widget=forms.TextInput(attrs={"tabindex": "-1", "autocomplete": "off"}),
    )
    form_token = forms.CharField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["name"].widget.attrs["autocomplete"] = "name"
        self.fields["company"].widget.attrs["autocomplete"] = "organization"

    def clean(self):
        data = super().clean()
        try:
            clean_lead_fields({name: data.get(name) or "" for name in LEAD_FIELDS})
        except InvalidLead as error:
            for field, message in error.errors.items():
                if field not in self.errors:
                    self.add_error(field if field in self.fields else None, message)
        return data

    def lead_fields(self) -> dict[str, str]:
        return {name: self.cleaned_data.get(name) or "" for name in LEAD_FIELDS}

    def raw_fields(self) -> dict[str, str]:
        """What was posted, valid or not (for a trapped bot's submission)."""
        return {name: str(self.data.get(name, "")) for name in LEAD_FIELDS}

    @property
    def lead_field_list(self):
        return [self[name] for name in LEAD_FIELDS]
