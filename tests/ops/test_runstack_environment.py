"""`make run PORT=…` serves links on the port it runs on; the root warning is said once, not by every process."""

from riskapp.ops.management.commands.runstack import stack_environment


def test_site_url_follows_host_and_port_when_not_configured():
    env = stack_environment({}, host="127.0.0.1", port=8870, is_root=False)
    assert env["RISKAPP_SITE_URL"] == "http://127.0.0.1:8870"
    assert stack_environment({}, host="0.0.0.0", port=9000, is_root=False)["RISKAPP_SITE_URL"] == "http://127.0.0.1:9000"


def test_a_configured_site_url_wins():
    env = stack_environment({"RISKAPP_SITE_URL": "https://risk.example.com"}, host="127.0.0.1", port=8870, is_root=False)
    assert env["RISKAPP_SITE_URL"] == "https://risk.example.com"


def test_celerys_root_warning_is_filtered_only_for_root():
    assert "PYTHONWARNINGS" not in stack_environment({}, host="127.0.0.1", port=8000, is_root=False)
    env = stack_environment({"PYTHONWARNINGS": "error::DeprecationWarning"}, host="127.0.0.1", port=8000, is_root=True)
    assert env["PYTHONWARNINGS"] == "error::DeprecationWarning,ignore::celery.exceptions.SecurityWarning"
