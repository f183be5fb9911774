"""Forms of the compliance pages: matrix filters, report requests, manual evidence, share links."""

from __future__ import annotations

from datetime import timedelta

from django import forms
from django.utils import timezone

from riskapp.compliance.models import ControlStatus, Framework, ReportFormat


class MatrixFilterForm(forms.Form):
    status = forms.MultipleChoiceField(choices=ControlStatus.choices, required=False,
                                       widget=forms.CheckboxSelectMultiple, label="Show controls with a status")
    asset = forms.TypedChoiceField(required=False, coerce=int, empty_value=None, label="Model")
    q = forms.CharField(required=False, max_length=100, label="Control id or title")

    def __init__(self, *args, assets=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["asset"].choices = [("", "All models")] + [(a.pk, a.name) for a in assets]


class ReportRequestForm(forms.Form):
    framework = forms.ModelChoiceField(queryset=Framework.objects.all(), to_field_name="slug", empty_label=None)
    asset = forms.TypedChoiceField(required=False, coerce=int, empty_value=None, label="Scope")
    format = forms.ChoiceField(choices=ReportFormat.choices)
    period_start = forms.DateField(required=False, label="Evidence from",
                                   widget=forms.DateInput(attrs={"type": "date"}),
                                   help_text="Leave empty for all evidence.")
    period_end = forms.DateField(required=False, label="Evidence until",
                                 widget=forms.DateInput(attrs={"type": "date"}), help_text="Leave empty for today.")

    def __init__(self, *args, assets=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["asset"].choices = [("", "All models")] + [(a.pk, a.name) for a in assets]


class ManualEvidenceForm(forms.Form):
    title = forms.CharField(max_length=200, help_text="What the document shows, e.g. “AI policy v3, approved by the board”.")
    file = forms.FileField(required=False, help_text="A document (up to 25 MB) …")
    link = forms.URLField(required=False, max_length=500, assume_scheme="https", help_text="… or a link to it.")
    owner = forms.TypedChoiceField(coerce=int, label="Owner", help_text="Who keeps this evidence current.")
    expires_on = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}), label="Valid until")
    notes = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))

    def __init__(self, *args, members=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["owner"].choices = [(user.pk, user.get_username()) for user in members]
        self.fields["expires_on"].initial = timezone.now().date() + timedelta(days=365)

    def clean(self):
        data = super().clean()
        if bool(data.get("file")) == bool(data.get("link")):
            raise forms.ValidationError("Attach either a file or a link.")
        return data


class ShareLinkForm(forms.Form):
    report = forms.IntegerField(required=False, widget=forms.HiddenInput)
    asset = forms.IntegerField(required=False, widget=forms.HiddenInput)
    label = forms.CharField(required=False, max_length=200, label="For whom",
                            help_text="e.g. the auditor's name; shown in the list of links.")
    expires_in_days = forms.IntegerField(min_value=1, max_value=90, initial=14, label="Valid for (days)")
