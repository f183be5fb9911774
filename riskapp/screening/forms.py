"""Forms of the screening pages: the per-asset alert policy and new screening tokens."""

from __future__ import annotations

from django import forms

from riskapp.screening.models import ScreeningPolicy


class ScreeningPolicyForm(forms.ModelForm):
    class Meta:
        model = ScreeningPolicy
        fields = ["enabled", "burst_rate", "burst_last_n", "burst_count", "burst_minutes", "extraction_minutes",
                  "extraction_min_queries", "extraction_anomalous_share", "extraction_min_entropy", "max_batch"]
        labels = {
            "enabled": "Screening on",
            "burst_rate": "Burst: flagged share of the last N inputs",
            "burst_last_n": "Burst: N (inputs)",
            "burst_count": "Burst: or this many flags…",
            "burst_minutes": "…within (minutes)",
            "extraction_minutes": "Extraction watch: window (minutes)",
            "extraction_min_queries": "Extraction watch: queries per caller",
            "extraction_anomalous_share": "Extraction watch: share unlike the evaluation data",
            "extraction_min_entropy": "Extraction watch: mean input entropy (0–1)",
            "max_batch": "Largest batch per request",
        }
        help_texts = {
            "burst_rate": "A fraction, e.g. 0.2 opens an alert when 20% of the last N inputs are flagged.",
            "extraction_min_entropy": "1.0 is uniform noise; real images and records sit lower.",
        }


class ScreeningTokenForm(forms.Form):
    name = forms.CharField(max_length=100, label="Token name",
                           help_text="Which service uses it, e.g. “triage API (production)”.")
