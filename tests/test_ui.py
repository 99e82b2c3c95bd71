"""The report, a plot and the model card, seen in the real MLflow UI in headless Chromium.

A real ``mlflow server`` on 127.0.0.1; a model logged through the plugin; Playwright
drives Debian's ``chromium`` (never a downloaded browser) to the Logged Model page's
Artifacts tab. Screenshots are saved in the test's temporary folder.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import mlflow
import pytest

import mlflow_clarity

from models import classification_data
from tracking_server import Server

pytestmark = [pytest.mark.server, pytest.mark.browser]

CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
PAYLOAD = (
    "<img src=x onerror=\"document.body.dataset.pwned='1'\">"
    "<script>document.body.dataset.pwned='1'</script>"
)

if not Path(CHROMIUM).exists():
    reason = f"{CHROMIUM} is not installed (make test installs it)"
    if os.environ.get("CLARITY_REQUIRE_BROWSER") == "1":
        raise RuntimeError(reason)
    pytest.skip(reason, allow_module_level=True)


@pytest.fixture
def logged(server: Server) -> Iterator[Any]:
    """Log a model through the plugin to the server; yield a function that logs one."""
    mlflow.set_tracking_uri(server.url)
    mlflow.set_registry_uri(server.url)
    mlflow_clarity.autolog(sample_rows=200, budget_s=60)
    experiment = mlflow.set_experiment("ui-test").experiment_id

    def log(rename: dict[str, str] | None = None) -> str:
        from sklearn.ensemble import RandomForestClassifier

        x, y = classification_data(rows=400)
        x = x.rename(columns=rename or {})
        with mlflow.start_run(), mlflow_clarity.reference_data(x, y):
            info = mlflow.sklearn.log_model(
                RandomForestClassifier(10, random_state=0).fit(x, y),
                name="m",
                serialization_format="cloudpickle",
            )
        return f"{server.url}/#/experiments/{experiment}/models/{info.model_id}"

    yield log
    mlflow.set_tracking_uri(None)
    mlflow.set_registry_uri(None)


@pytest.fixture
def page() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            new = browser.new_page(viewport={"width": 1400, "height": 1000})
            new.set_default_timeout(UI_WAIT_MS)
            yield new
        finally:
            browser.close()


UI_WAIT_MS = 90_000
"""How long to wait for the UI to show something: generous, since a busy CI machine renders
the MLflow UI slowly (a bound, not a timing assertion)."""


def _open_artifact(page: Any, url: str, *path: str) -> None:
    """Open the Logged Model page, its Artifacts tab, and click down the folder tree."""
    page.goto(url)
    page.get_by_text("Artifacts", exact=True).first.click()
    for name in path:
        page.get_by_text(name, exact=True).first.click()


def _report_frame(page: Any) -> Any:
    """The sandboxed iframe the viewer renders HTML in, once the report has loaded."""
    page.wait_for_selector("iframe")
    frame = page.frame_locator("iframe").first
    frame.locator("h1").wait_for()
    return frame


def test_report_plot_and_card_show_in_the_artifact_viewer(logged, page, tmp_path: Path) -> None:
    url = logged()
    _open_artifact(page, url, "clarity", "report.html")
    frame = _report_frame(page)
    assert frame.locator("h1").inner_text().startswith("Clarity report:")
    chart = frame.locator("img[alt='global importance']")
    chart.scroll_into_view_if_needed()
    assert chart.is_visible()
    assert chart.evaluate("img => img.complete && img.naturalWidth > 100")
    quality = frame.locator("#quality")
    quality.scroll_into_view_if_needed()
    assert quality.is_visible() and "How far to trust" in quality.inner_text()
    page.screenshot(path=str(tmp_path / "report.png"))

    _open_artifact(page, url, "clarity", "explanations", "shap", "plots", "importance.png")
    plot = page.locator("img[src*='importance.png'], img[src^='blob:']").first
    plot.wait_for()
    assert plot.evaluate("img => img.complete && img.naturalWidth > 100")
    page.screenshot(path=str(tmp_path / "plot.png"))

    _open_artifact(page, url, "clarity", "model_card.md")
    heading = page.get_by_role("heading", name="Model card:", exact=False).first
    heading.wait_for()
    assert heading.is_visible()
    assert page.get_by_role("heading", name="Intended use (owner)").is_visible()
    page.screenshot(path=str(tmp_path / "card.png"))


def test_html_in_column_names_is_shown_not_run(logged, page, tmp_path: Path) -> None:
    url = logged({"x1": PAYLOAD})
    _open_artifact(page, url, "clarity", "report.html")
    frame = _report_frame(page)
    frame.get_by_text("Training data").first.scroll_into_view_if_needed()
    assert frame.locator("body").evaluate("body => body.dataset.pwned === undefined")
    assert frame.locator("script").count() == 0
    assert frame.get_by_text(PAYLOAD, exact=False).first.is_visible()
    page.screenshot(path=str(tmp_path / "escaped.png"))
