"""README lists every environment variable settings.py reads."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_every_setting_variable_is_documented_in_readme():
    settings_source = (ROOT / "riskapp" / "settings.py").read_text()
    variables = set(re.findall(r'"((?:RISKAPP_[A-Z0-9_]+)|DATABASE_URL|CELERY_BROKER_URL)"', settings_source))
    readme = (ROOT / "README.md").read_text()
    missing = sorted(v for v in variables if v not in readme)
    assert variables and not missing, f"README does not document: {missing}"
