"""The "Run assessment" form: profile, model version, datasets and seed, choices limited to the asset's organization."""

from __future__ import annotations

from django import forms

from riskapp.assessments.selectors import profiles_for
from riskapp.assets.models import Dataset, DatasetRole, ValidationStatus


class _DatasetChoice(forms.ModelChoiceField):
    def label_from_instance(self, obj) -> str:
        detail = f"{obj.sample_count} samples" if obj.sample_count else obj.get_source_display()
        return f"{obj.name} ({obj.get_role_display().lower()}, {detail})"


class _ProfileChoice(forms.ModelChoiceField):
    def label_from_instance(self, obj) -> str:
        return f"{obj.name} (built-in)" if obj.is_builtin else obj.name


class RunCreateForm(forms.Form):
    profile = _ProfileChoice(queryset=None, empty_label=None,
                             help_text="Which checks run, with which parameters and thresholds.")
    version = forms.ModelChoiceField(queryset=None, empty_label=None, label="Model version",
                                     help_text="Only validated versions can be assessed.")
    evaluation_dataset = _DatasetChoice(queryset=None, empty_label=None, label="Evaluation dataset",
                                        help_text="Attacks are measured on these samples.")
    training_dataset = _DatasetChoice(queryset=None, required=False, label="Training dataset (optional)",
                                      empty_label="None",
                                      help_text="Needed for poisoning, data-scan and membership-inference checks.")
    holdout_dataset = _DatasetChoice(queryset=None, required=False, label="Holdout dataset (optional)",
                                     empty_label="None",
                                     help_text="Samples the model never saw; needed for membership inference.")
    seed = forms.IntegerField(min_value=0, max_value=2**31 - 1, initial=0,
                              help_text="Same model, data, profile and seed give the same numbers on the same hardware.")

    def __init__(self, *args, asset, **kwargs):
        super().__init__(*args, **kwargs)
        self.asset = asset
        datasets = Dataset.objects.filter(organization=asset.organization, status=ValidationStatus.VALIDATED)
        self.fields["profile"].queryset = profiles_for(organization=asset.organization)
        self.fields["version"].queryset = asset.versions.filter(status=ValidationStatus.VALIDATED)
        self.fields["evaluation_dataset"].queryset = datasets
        self.fields["training_dataset"].queryset = datasets
        self.fields["holdout_dataset"].queryset = datasets
        for name, field in self.fields.items():
            if field.help_text:
                field.widget.attrs["aria-describedby"] = f"id_{name}-help"
        quick = self.fields["profile"].queryset.filter(slug="quick", organization__isnull=True).first()
        self.initial.setdefault("profile", quick.pk if quick else None)
        self.initial.setdefault("version", asset.current_version_id)
        self.initial.setdefault("evaluation_dataset", asset.evaluation_dataset_id
                                or datasets.filter(role=DatasetRole.EVALUATION).values_list("pk", flat=True).first())
        self.initial.setdefault("training_dataset", asset.training_dataset_id)
        self.initial.setdefault("holdout_dataset", asset.holdout_dataset_id)

    @property
    def ready(self) -> bool:
        """Whether there is something to assess: a validated version and a validated dataset."""
        return self.fields["version"].queryset.exists() and self.fields["evaluation_dataset"].queryset.exists()
