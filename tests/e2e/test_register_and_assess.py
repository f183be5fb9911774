"""The first journey, in a real browser with a real worker: sign in, register a TorchScript model with an .npz of
evaluation data, watch it validate, run the `quick` profile, watch the progress bar move without reloading, and
read the results with the robustness chart."""

from __future__ import annotations

import pytest

from tests.assets.conftest import npz_bytes
from tests.e2e.conftest import chromium_required

pytestmark = [pytest.mark.e2e, pytest.mark.slow, chromium_required]


RECORD_PROGRESS = """() => {
    // Every progress value the page renders, in order, as the poller swaps the status card in place.
    window.__progress = [];
    const note = () => document.querySelectorAll('[data-testid=run-status] [role=progressbar]')
        .forEach(bar => window.__progress.push(Number(bar.getAttribute('aria-valuenow'))));
    note();
    new MutationObserver(note).observe(document.body, {childList: true, subtree: true});
}"""


def _progress_values(page, *, until_finished_s: float) -> list[int]:
    """The progress values the page showed until the run finished (then its status card stops polling)."""
    page.locator('[data-testid="run-status"]:not([data-poll-url])').wait_for(timeout=until_finished_s * 1000)
    return page.evaluate("window.__progress")


@pytest.mark.django_db(transaction=True)
def test_register_a_model_run_quick_and_read_the_robustness_chart(
        live_server, celery_worker_process, organization, owner, browser_page, screenshots, sign_in, tmp_path,
        strong_cnn_path, digits_eval, settings):
    from riskapp.assessments.models import AssessmentRun, Profile

    # quick takes a few seconds on these 8×8 digits: poll often enough to see the bar between 0 and 100.
    settings.RISKAPP_POLL_INTERVAL_MS = 250
    celery_worker_process()
    data_file = tmp_path / "evaluation.npz"
    data_file.write_bytes(npz_bytes(x=digits_eval[0], y=digits_eval[1]))
    page = browser_page
    sign_in(page, owner.username)
    # Keyboard first: the first Tab reaches the skip link, which moves focus past the navigation.
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent.trim()") == "Skip to content"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"

    page.get_by_role("link", name="Register a model").first.click()
    page.wait_for_url("**/assets/register/")
    page.get_by_label("Model name").fill("Claims digit reader")
    page.get_by_label("Task").select_option("image_classification")
    page.get_by_label("EU AI Act risk tier").select_option("high")
    page.get_by_label("Intended use").fill("Reads handwritten digits on scanned claim forms.")
    page.get_by_label("TorchScript (.pt)").check()
    page.get_by_label("Model file").set_input_files(str(strong_cnn_path))
    page.get_by_label("Input shape per sample").fill("1,8,8")
    page.get_by_label("Number of classes").fill("10")
    page.get_by_label("Upload a file (.npz or .csv)").check()
    page.get_by_label("Evaluation data file").set_input_files(str(data_file))
    screenshots(page, "register-form")
    page.get_by_role("button", name="Register model").click()

    page.wait_for_url("**/assets/*/")
    screenshots(page, "asset-validating")
    page.locator('[data-testid="version-status"][data-status="validated"]').wait_for(timeout=120_000)
    page.reload()  # the run form needs the validated version; a person would reload or follow the link too
    screenshots(page, "asset-validated")

    quick = Profile.objects.get(slug="quick", organization__isnull=True)
    form = page.get_by_test_id("run-form")
    form.get_by_label("Profile").select_option(str(quick.pk))
    form.get_by_role("button", name="Run assessment").click()
    page.wait_for_url("**/assessments/runs/*/")
    page.evaluate(RECORD_PROGRESS)
    screenshots(page, "run-started")

    values = _progress_values(page, until_finished_s=600)
    print(f"progress the page showed: {values}")
    screenshots(page, "run-finished")
    run = AssessmentRun.objects.get(asset__name="Claims digit reader")
    assert run.status == "succeeded", run.error
    assert run.profile == quick
    # The bar moved in place: the page saw intermediate values, never went backwards, and ended full.
    assert any(0 < v < 100 for v in values), values
    assert values == sorted(values), values
    assert values[-1] == 100
    assert page.get_by_test_id("run-status").get_attribute("data-poll-url") is None

    page.get_by_test_id("show-results").click()
    page.wait_for_url(f"**/assessments/runs/{run.pk}/")
    chart = page.locator("svg.chart").first
    chart.wait_for()
    assert chart.locator("title").first.text_content().startswith("Robustness of Claims digit reader")
    # The curve starts at the clean accuracy the worker measured, drawn for each attack.
    clean = run.checks.get(kind="evasion.whitebox").metrics["clean_accuracy"]
    svg = chart.inner_html()
    assert svg.count(f"ε=0, accuracy {clean:.1%}") >= 2, svg[:2000]
    screenshots(page, "results")
