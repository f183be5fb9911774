"""HTML forms of the model registry: filtering the list, registering a model, uploading a version or a dataset."""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError

from riskapp.assets.intake import parse_shape
from riskapp.assets.models import (
    BuiltinDataset,
    DatasetRole,
    ModelFormat,
    OutputKind,
    RiskTier,
    Sector,
    Task,
)
from riskapp.assets.selectors import ASSET_STATUSES

STATUS_LABELS = {"validated": "Validated", "pending": "Validating", "rejected": "Rejected", "none": "No version yet"}
FORMAT_HELP = {
    ModelFormat.TORCHSCRIPT: "torch.jit.save(torch.jit.script(model.eval()), 'model.pt')",
    ModelFormat.SKOPS: "skops.io.dump(estimator, 'model.skops')",
    ModelFormat.ONNX: "torch.onnx.export(...) or skl2onnx",
    ModelFormat.ENDPOINT: "a JSON prediction API: POST {\"inputs\": [...]} → {\"probabilities\": [[...]]}",
}


class AssetFilterForm(forms.Form):
    q = forms.CharField(required=False, label="Name contains")
    risk_tier = forms.ChoiceField(required=False, label="Risk tier", choices=[("", "Any tier"), *RiskTier.choices])
    sector = forms.ChoiceField(required=False, choices=[("", "Any sector"), *Sector.choices])
    status = forms.ChoiceField(required=False, label="Validation",
                               choices=[("", "Any status"), *[(s, STATUS_LABELS[s]) for s in ASSET_STATUSES]])


class ModelFieldsMixin(forms.Form):
    """The fields that describe one model version (file or endpoint)."""

    format = forms.ChoiceField(choices=ModelFormat.choices, initial=ModelFormat.TORCHSCRIPT, widget=forms.RadioSelect,
                               label="Model format")
    artifact = forms.FileField(required=False, label="Model file",
                               help_text="TorchScript (.pt), skops (.skops) or ONNX (.onnx). Pickle files "
                                         "(.pkl, .joblib, torch.save) are refused: they can run code when opened.")
    label = forms.CharField(required=False, max_length=64, label="Version label",
                            help_text="e.g. v1 or a build id. Leave empty for v1, v2, …")
    input_shape = forms.CharField(label="Input shape per sample", initial="1,8,8",
                                  help_text="Without the batch dimension: 1,8,8 for 8×8 grey images, 30 for 30 features.")
    nb_classes = forms.IntegerField(min_value=2, label="Number of classes", initial=10)
    clip_min = forms.FloatField(initial=0.0, label="Smallest input value")
    clip_max = forms.FloatField(initial=1.0, label="Largest input value",
                                help_text="Attacks keep inputs inside this range.")
    class_names = forms.CharField(required=False, label="Class names",
                                  help_text="Optional, comma-separated, one per class.")
    endpoint_url = forms.URLField(required=False, label="Prediction URL", assume_scheme="https",
                                  help_text="riskapp POSTs {\"inputs\": [[…], …]} and reads the probabilities or labels.")
    endpoint_auth_header_name = forms.CharField(required=False, initial="Authorization", label="Auth header name")
    endpoint_auth_header_value = forms.CharField(required=False, label="Auth header value",
                                                 widget=forms.PasswordInput(render_value=False),
                                                 help_text="Stored as a secret: never shown again, never logged.")
    endpoint_output_kind = forms.ChoiceField(required=False, choices=OutputKind.choices, initial=OutputKind.PROBABILITIES,
                                             label="The endpoint answers with")
    endpoint_input_key = forms.CharField(required=False, initial="inputs", label="Request key for inputs")
    endpoint_output_key = forms.CharField(required=False, initial="probabilities", label="Response key for outputs")
    endpoint_query_budget = forms.IntegerField(required=False, min_value=1, initial=20000, label="Query budget",
                                               help_text="Most predictions one assessment may ask for.")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Required for one choice of format only: the label must not say "(optional)".
        for name in ("artifact", "endpoint_url"):
            self.fields[name].conditionally_required = True

    def clean_input_shape(self):
        try:
            return parse_shape(self.cleaned_data["input_shape"])
        except ValidationError as exc:
            raise ValidationError(exc.messages)

    def clean(self):
        cleaned = super().clean()
        fmt = cleaned.get("format")
        if fmt == ModelFormat.ENDPOINT:
            if not cleaned.get("endpoint_url"):
                self.add_error("endpoint_url", "Give the URL of the prediction API.")
        elif fmt and not cleaned.get("artifact"):
            self.add_error("artifact", "Choose the exported model file to upload.")
        return cleaned

    def version_kwargs(self) -> dict:
        data = self.cleaned_data
        kwargs = {
            "format": data["format"], "label": data.get("label", ""), "input_shape": data["input_shape"],
            "nb_classes": data["nb_classes"], "clip_min": data["clip_min"], "clip_max": data["clip_max"],
            "class_names": [c.strip() for c in (data.get("class_names") or "").split(",") if c.strip()],
        }
        if data["format"] == ModelFormat.ENDPOINT:
            kwargs["endpoint"] = {
                "url": data["endpoint_url"],
                "auth_header_name": data.get("endpoint_auth_header_name") or "Authorization",
                "auth_header_value": data.get("endpoint_auth_header_value") or "",
                "output_kind": data.get("endpoint_output_kind") or OutputKind.PROBABILITIES,
                "input_key": data.get("endpoint_input_key") or "inputs",
                "output_key": data.get("endpoint_output_key") or "probabilities",
                "query_budget": data.get("endpoint_query_budget") or 20000,
            }
        else:
            kwargs["artifact"] = data["artifact"]
        return kwargs


DATA_CHOICES = [("builtin", "A built-in dataset"), ("upload", "Upload a file (.npz or .csv)"), ("none", "Add data later")]


class DataFieldsMixin(forms.Form):
    data_source = forms.ChoiceField(choices=DATA_CHOICES, initial="builtin", widget=forms.RadioSelect,
                                    label="Evaluation data")
    builtin_name = forms.ChoiceField(required=False, choices=BuiltinDataset.choices, label="Built-in dataset",
                                     help_text="Fixed evaluation, training and holdout splits of a scikit-learn dataset.")
    data_file = forms.FileField(required=False, label="Evaluation data file",
                                help_text=".npz saved with numpy.savez(path, x=inputs, y=labels), or .csv with a "
                                          "header row.")
    label_column = forms.CharField(required=False, initial="label", label="CSV label column")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in ("builtin_name", "data_file"):
            self.fields[name].conditionally_required = True

    def clean(self):
        cleaned = super().clean()
        source = cleaned.get("data_source")
        if source == "builtin" and not cleaned.get("builtin_name"):
            self.add_error("builtin_name", "Choose a built-in dataset.")
        if source == "upload" and not cleaned.get("data_file"):
            self.add_error("data_file", "Choose the .npz or .csv file with your evaluation data.")
        return cleaned

    def dataset_specs(self, *, base_name: str) -> list[dict]:
        data = self.cleaned_data
        if data["data_source"] == "builtin":
            # No role: the service registers all three fixed splits (evaluation, training, holdout).
            return [{"name": BuiltinDataset(data["builtin_name"]).label.split(" (")[0], "builtin_name": data["builtin_name"]}]
        if data["data_source"] == "upload":
            label_column = data.get("label_column") or "label"
            specs = [{"name": f"{base_name} evaluation data", "role": DatasetRole.EVALUATION, "file": data["data_file"],
                      "label_column": label_column}]
            for role, field in ((DatasetRole.TRAINING, "training_file"), (DatasetRole.HOLDOUT, "holdout_file")):
                if data.get(field):
                    specs.append({"name": f"{base_name} {role} data", "role": role, "file": data[field],
                                  "label_column": label_column})
            return specs
        return []


# Which checks each extra data role unlocks: said where the files are chosen, so nobody is surprised by skips.
TRAINING_DATA_HELP = ("The data the model was trained on (same format). Unlocks the poisoning, membership and "
                      "attribute inference checks and the defences that retrain a copy; without it they are skipped.")
HOLDOUT_DATA_HELP = ("Data the model never saw in training (same format). Membership inference compares it with the "
                     "training data.")


class RegisterModelForm(ModelFieldsMixin, DataFieldsMixin, forms.Form):
    name = forms.CharField(max_length=200, label="Model name")
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    task = forms.ChoiceField(choices=Task.choices, initial=Task.IMAGE)
    risk_tier = forms.ChoiceField(choices=RiskTier.choices, initial=RiskTier.LIMITED, label="EU AI Act risk tier",
                                  help_text="High-risk systems get stricter assessment thresholds.")
    sector = forms.ChoiceField(choices=Sector.choices, initial=Sector.OTHER)
    intended_use = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}), label="Intended use")
    tags = forms.CharField(required=False, help_text="Comma-separated.")
    training_file = forms.FileField(required=False, label="Training data file", help_text=TRAINING_DATA_HELP)
    holdout_file = forms.FileField(required=False, label="Holdout data file", help_text=HOLDOUT_DATA_HELP)

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("data_source") != "upload":
            for field in ("training_file", "holdout_file"):
                if cleaned.get(field):
                    self.add_error(field, "Upload training and holdout files together with an uploaded evaluation "
                                          "file (a built-in dataset brings its own splits).")
        return cleaned

    def asset_kwargs(self) -> dict:
        data = self.cleaned_data
        return {k: data.get(k, "") for k in ("name", "description", "task", "risk_tier", "sector", "intended_use")} | {
            "tags": data.get("tags", "")}


class VersionUploadForm(ModelFieldsMixin, forms.Form):
    make_current = forms.BooleanField(required=False, initial=True, label="Make it the current version once validated")

    def version_kwargs(self) -> dict:
        return super().version_kwargs() | {"make_current": self.cleaned_data.get("make_current", False)}


class DatasetAddForm(DataFieldsMixin, forms.Form):
    data_source = forms.ChoiceField(choices=DATA_CHOICES[:2], initial="upload", widget=forms.RadioSelect, label="Data")
    role = forms.ChoiceField(choices=DatasetRole.choices, initial=DatasetRole.EVALUATION,
                             help_text="Evaluation data is attacked; training and holdout data feed privacy and "
                                       "poisoning checks.")
    name = forms.CharField(max_length=200, label="Dataset name")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # The role is chosen on this form, so the file is not necessarily evaluation data.
        self.fields["data_file"].label = "Data file"

    def clean(self):
        cleaned = super().clean()
        role = cleaned.get("role") or DatasetRole.EVALUATION
        if "data_file" in self.errors and cleaned.get("data_source") == "upload":
            self.errors["data_file"] = self.error_class([f"Choose the .npz or .csv file with your {role} data."])
        return cleaned
