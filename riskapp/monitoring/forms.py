"""HTML forms for schedules, alert acknowledgement and resolution, and alert channels."""

from __future__ import annotations

from django import forms
from django.db.models import Q

from riskapp.assessments.models import Profile
from riskapp.assets.models import ModelAsset
from riskapp.monitoring.models import ChannelKind, IntervalUnit, ScheduleKind, Severity


def profiles_for_organization(organization):
    return Profile.objects.filter(Q(organization__isnull=True) | Q(organization=organization)).order_by(
        "-is_builtin", "name")


class ScheduleForm(forms.Form):
    profile = forms.ModelChoiceField(queryset=Profile.objects.none(), help_text="The checks to repeat.")
    kind = forms.ChoiceField(choices=ScheduleKind.choices, initial=ScheduleKind.CRON, label="Repeat by")
    cron = forms.CharField(
        required=False, initial="0 3 * * *", label="Cron expression (UTC)",
        help_text="minute hour day-of-month month day-of-week; “0 3 * * *” is every day at 03:00 UTC.",
    )
    interval_every = forms.IntegerField(required=False, min_value=1, label="Every")
    interval_unit = forms.ChoiceField(required=False, choices=IntervalUnit.choices, initial=IntervalUnit.DAYS,
                                      label="Unit")
    run_on_new_version = forms.BooleanField(
        required=False, initial=True, label="Also assess each newly validated model version at once")

    def __init__(self, *args, organization=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["profile"].queryset = profiles_for_organization(organization)


class CommentForm(forms.Form):
    comment = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}), max_length=4000)


class ResolveForm(forms.Form):
    comment = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), max_length=4000,
                              help_text="What was done, or why this is acceptable. Recorded in the audit trail.")


class ChannelForm(forms.Form):
    name = forms.CharField(max_length=120, help_text="E.g. “ML on-call” or “#model-risk”.")
    kind = forms.ChoiceField(choices=ChannelKind.choices, label="Type")
    email_recipients = forms.CharField(
        required=False, label="E-mail recipients", widget=forms.Textarea(attrs={"rows": 2}),
        help_text="For e-mail channels: addresses separated by commas or new lines.")
    url = forms.URLField(required=False, max_length=500, label="Receiver URL", assume_scheme="https",
                         help_text="For webhook and Slack channels: where alerts are POSTed as JSON.")
    min_severity = forms.ChoiceField(choices=Severity.choices, initial=Severity.WARNING, label="Minimum severity")
    all_assets = forms.BooleanField(required=False, initial=True, label="Alerts of all assets")
    assets = forms.ModelMultipleChoiceField(queryset=ModelAsset.objects.none(), required=False,
                                            help_text="Only these assets, when not all.")

    def __init__(self, *args, organization=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["assets"].queryset = ModelAsset.objects.filter(organization=organization)
