"""A person registers a TorchScript model with an .npz of evaluation data through the web form, in a real browser,
and watches a real worker validate it (Debian's Chromium driven by Playwright)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.assets.conftest import npz_bytes
from tests.worker import wait_for

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
ROOT = Path(__file__).resolve().parents[2]

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.slow,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed (apt-get install chromium)"),
]


@pytest.fixture
def browser_page(monkeypatch):
    playwright_api = pytest.importorskip("playwright.sync_api")
    # Playwright's sync API runs an event loop in this thread; the ORM calls the test makes are still synchronous.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.set_default_timeout(30_000)
        yield page
        browser.close()


@pytest.mark.django_db(transaction=True)
def test_register_a_torchscript_model_with_npz_data_and_see_it_validated(
        live_server, celery_worker_process, organization, owner, browser_page, screenshots, tmp_path,
        digits_cnn_bytes, digits_eval):
    from riskapp.assets.models import ModelAsset

    worker = celery_worker_process(queues="assess-cpu,default")
    model_file = tmp_path / "digits_cnn.pt"
    model_file.write_bytes(digits_cnn_bytes)
    data_file = tmp_path / "evaluation.npz"
    data_file.write_bytes(npz_bytes(x=digits_eval[0], y=digits_eval[1]))
    page = browser_page

    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Username").fill("alice")
    page.get_by_label("Password").fill("correct-horse-battery")
    screenshots(page, "sign-in")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{live_server.url}/")

    page.goto(f"{live_server.url}/assets/")
    page.get_by_text("No models yet — Register a model").wait_for()
    screenshots(page, "empty-model-list")
    page.get_by_role("link", name="Register a model").first.click()
    page.wait_for_url("**/assets/register/")

    page.get_by_label("Model name").fill("Digits reader")
    page.get_by_label("Task").select_option("image_classification")
    page.get_by_label("EU AI Act risk tier").select_option("high")
    page.get_by_label("Intended use").fill("Reads handwritten digits on scanned forms.")
    page.get_by_label("TorchScript (.pt)").check()
    page.get_by_label("Model file").set_input_files(str(model_file))
    page.get_by_label("Input shape per sample").fill("1,8,8")
    page.get_by_label("Number of classes").fill("10")
    page.get_by_label("Upload a file (.npz or .csv)").check()
    page.get_by_label("Evaluation data file").set_input_files(str(data_file))
    screenshots(page, "register-form-filled")
    page.get_by_role("button", name="Register model").click()

    page.wait_for_url("**/assets/*/")
    page.get_by_text("is registered").wait_for()
    screenshots(page, "asset-page-validating")
    # The status cell polls its fragment URL; the worker's validation turns it green without a reload.
    page.locator('[data-testid="version-status"][data-status="validated"]').wait_for(timeout=120_000)
    page.locator('[data-testid="dataset-status"][data-status="validated"]').wait_for(timeout=60_000)
    screenshots(page, "asset-page-validated")

    asset = wait_for(lambda: ModelAsset.objects.filter(name="Digits reader", current_version__isnull=False).first(),
                     timeout=10, message="the validated version to be current")
    assert asset.current_version.status == "validated", worker.log[-2000:]
    assert asset.evaluation_dataset.sample_count == len(digits_eval[1])
    assert "Validated" in page.locator('[data-testid="version-status"]').inner_text()
    assert page.locator('[data-testid="version-status"][data-poll-url]').count() == 0
