"""Browser-test fixtures: Debian's Chromium driven by Playwright, sign-in, screenshots of every page visited (kept
when a test fails), the demo's trained digits CNNs (cached like seed_demo caches them) and a tiny profile."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.assets.conftest import digits_cnn_bytes, digits_eval  # noqa: F401 (fixtures)

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "test-output" / "e2e"
PASSWORD = "correct-horse-battery"  # tests.factories.UserFactory's password

# Small enough for a browser journey, still the white-box check whose curve the run page draws.
E2E_SUITE = {
    "name": "e2e",
    "checks": [
        {"kind": "integrity.data", "params": {}, "thresholds": {"nan_count": {"max": 0}}},
        {"kind": "evasion.whitebox",
         "params": {"attacks": ["fgsm", "pgd"], "epsilons": [0.05, 0.1, 0.2], "reference_epsilon": 0.1,
                    "pgd_max_iter": 5, "max_samples": 60},
         "thresholds": {"clean_accuracy": {"min": 0.7}, "robust_accuracy": {"min": 0.3}}},
    ],
}

chromium_required = pytest.mark.skipif(not Path(CHROMIUM).exists(),
                                       reason="Debian's chromium is not installed (apt-get install chromium)")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    # Lets the screenshot fixture see whether the test failed, to photograph the page it failed on.
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


class Screenshots:
    """Writes NN-<page>.png under test-output/e2e/<test name>/; never deletes anything (a failing run keeps them)."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)
        self.count = 0
        self.page = None

    def __call__(self, page, name: str) -> Path:
        self.page = page
        self.count += 1
        path = self.folder / f"{self.count:02d}-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path


@pytest.fixture
def screenshots(request):
    shots = Screenshots(SCREENSHOTS / request.node.name)
    yield shots
    failed = getattr(request.node, "rep_call", None)
    if failed is not None and failed.failed and shots.page is not None:
        try:
            shots(shots.page, "failure")
        except Exception:  # the browser may be gone already; the earlier screenshots stay either way
            pass


@pytest.fixture
def browser_page(monkeypatch):
    playwright_api = pytest.importorskip("playwright.sync_api")
    # Playwright's sync API runs an event loop in this thread; the ORM calls the test makes are still synchronous.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1280, "height": 800}, accept_downloads=True)
        page = context.new_page()
        page.set_default_timeout(30_000)
        yield page
        context.close()
        browser.close()


@pytest.fixture
def sign_in(live_server, screenshots):
    def go(page, username: str) -> None:
        page.goto(f"{live_server.url}/accounts/login/")
        page.get_by_label("Username").fill(username)
        page.get_by_label("Password").fill(PASSWORD)
        screenshots(page, "sign-in")
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(f"{live_server.url}/")
        screenshots(page, "dashboard")

    return go


def _demo_artifact(label: str) -> Path:
    """The demo's trained CNN (v1 or v2-weaker), from seed_demo's cache; trained and cached there when missing."""
    from django.conf import settings

    from riskapp.assets.management.commands.seed_demo import DEMO_MODELS

    model = next(m for m in DEMO_MODELS if m.asset_name == "Digits CNN" and m.label == label)
    folder = Path(settings.VAR_DIR) / "demo-cache" / "seed-0"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / model.filename
    if not path.is_file():
        partial = path.with_suffix(path.suffix + ".partial")
        model.train(0, partial)
        partial.replace(path)
    return path


@pytest.fixture(scope="session")
def strong_cnn_path() -> Path:
    return _demo_artifact("v1")


@pytest.fixture(scope="session")
def weaker_cnn_path() -> Path:
    return _demo_artifact("v2-weaker")


def assessed_asset(organization, user, *, model_path: Path, name: str = "Digits CNN", profile=None):
    """A registered, validated digits CNN with one real run of `profile` executed here (evidence recorded)."""
    from django.core.files import File

    from riskapp.assessments.services import run_create, run_execute
    from riskapp.assets.services import asset_register, model_version_validate

    with open(model_path, "rb") as handle:
        asset, version = asset_register(
            organization=organization, user=user,
            asset_fields={"name": name, "task": "image_classification", "risk_tier": "high"},
            version_fields={"format": "torchscript", "input_shape": [1, 8, 8], "nb_classes": 10,
                            "artifact": File(handle, name=model_path.name), "enqueue": False, "label": "v1"},
            datasets=[{"name": "digits", "builtin_name": "digits"}])
    assert model_version_validate(version_id=version.pk).status == "validated"
    asset.refresh_from_db()
    run = run_execute(run_id=run_create(asset=asset, profile=profile, user=user).pk)
    assert run is not None and run.status == "succeeded", run and run.error
    return asset, run


@pytest.fixture
def e2e_profile(organization):
    from riskapp.assessments.services import profile_create

    return profile_create(organization=organization, slug="e2e", name="E2E white-box", spec=E2E_SUITE)
