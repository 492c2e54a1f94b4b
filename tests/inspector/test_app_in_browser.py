"""The inspector in real headless Chromium: pages, filters, LaTeX, compare, labels, bad input, live inference.

One app process and one browser serve the whole module; tests run in file order. The inference run starts
first (the model takes 15-60 s to start on 2 cores) and is checked near the end, after the Analyze tests.
Screenshots of each page go to build/inspector-screenshots/ (printed when the browser starts).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from tests.inspector.conftest import SCREENSHOTS
from tests.inspector.project_data import project_catalog

pytestmark = pytest.mark.integration


def wait_for(condition: Callable[[], Any], *, timeout: float = 20, message: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = condition()
            if value:
                return value
        except (StaleElementReferenceException, WebDriverException) as error:
            last = error
        time.sleep(0.2)
    raise AssertionError(
        f"timed out after {timeout} s waiting for {message}" + (f" ({last})" if last else "")
    )


def console_errors(driver) -> list[dict]:
    return [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


def text_of(driver, element_id: str) -> str:
    return driver.find_element(By.ID, element_id).text


def element(driver, element_id: str):
    """The element once it is there (Dash loads some components, e.g. dropdowns, asynchronously)."""
    return wait_for(lambda: driver.find_element(By.ID, element_id), message=f"#{element_id}")


def fill(driver, element_id: str, text: str) -> None:
    """Replace an input's text the way a person does (clear() would bypass React's change events)."""
    field = element(driver, element_id)
    field.send_keys(Keys.CONTROL, "a")
    field.send_keys(Keys.DELETE)
    field.send_keys(text)


def choose(driver, dropdown_id: str, text: str, *, multi: bool = False) -> None:
    """Pick the option whose label contains ``text`` in a Dash 4 dropdown (a popover with a search box)."""
    element(driver, dropdown_id).click()
    content = wait_for(
        lambda: driver.find_element(By.CSS_SELECTOR, ".dash-dropdown-content"), message="dropdown"
    )
    search = content.find_elements(By.CSS_SELECTOR, "input")
    if search:
        search[0].send_keys(text)

    def option():
        for label in driver.find_elements(By.CSS_SELECTOR, ".dash-dropdown-content .dash-dropdown-option"):
            if text in label.text:
                return label
        return None

    wait_for(option, message=f"option {text!r} of #{dropdown_id}").click()
    if multi or driver.find_elements(By.CSS_SELECTOR, ".dash-dropdown-content"):
        driver.find_element(By.TAG_NAME, "body").send_keys(Keys.ESCAPE)
        wait_for(
            lambda: not driver.find_elements(By.CSS_SELECTOR, ".dash-dropdown-content"), message="closed"
        )


def grid_row_ids(driver, grid_id: str) -> list[str]:
    rows = driver.find_elements(By.CSS_SELECTOR, f"#{grid_id} .ag-center-cols-container .ag-row")
    # the grid reuses row elements: their order in the DOM is not the order shown
    ordered = sorted((int(row.get_attribute("row-index")), row.get_attribute("row-id")) for row in rows)
    return [row_id for _, row_id in ordered]


def click_row(driver, grid_id: str, row_id: str) -> None:
    selector = f'#{grid_id} .ag-center-cols-container .ag-row[row-id="{row_id}"] .ag-cell'
    wait_for(lambda: driver.find_elements(By.CSS_SELECTOR, selector), message=f"row {row_id}")[0].click()


def tick(driver, container_id: str, value: str) -> None:
    driver.find_element(By.CSS_SELECTOR, f'#{container_id} input[value="{value}"]').click()


def screenshot(driver, name: str) -> None:
    driver.save_screenshot(str(SCREENSHOTS / f"{name}.png"))


def open_dataset(driver, url: str, name: str, solution_set: str) -> None:
    driver.get(url + "/")
    wait_for(lambda: "solutions of" in text_of(driver, "dataset-status"), message="the default dataset")
    choose(driver, "dataset", name)
    wait_for(lambda: solution_set in text_of(driver, "dataset-status"), message=name)


def _dataset_value(driver) -> str:
    return element(driver, "dataset").text


def test_inference_run_starts_on_the_embedded_model(app, browser):
    browser.get(app.url + "/inference?problem=gsm8k/test/0")
    wait_for(lambda: "6 rows of 7 eggs" in browser.find_element(By.ID, "inf-problem-text").get_attribute("value"),
             message="the problem picked from the URL")  # fmt: skip
    assert browser.find_element(By.ID, "inf-gold").get_attribute("value") == "42"
    choose(browser, "inf-engine", "evaluation: base")
    # as tests/code_interpreter/test_real_engine.py: started inside a code block, the 135M model closes it
    wait_for(
        lambda: browser.find_element(By.ID, "inf-prompt").text == "code_fewshot", message="prompt default"
    )
    tick(browser, "inf-chat", "chat")  # off: the plain few-shot prompt, as in test_real_engine.py
    fill(browser, "inf-prefix", "Let's multiply.\n<llm-code>\nprint(6 * 7)\n")
    for element_id, value in (("inf-max-tokens", "48"), ("inf-max-generated", "96"), ("inf-max-rounds", "2")):
        fill(browser, element_id, value)
    assert console_errors(browser) == []
    browser.find_element(By.ID, "inf-run").click()
    wait_for(lambda: any(s in text_of(browser, "inf-status") for s in ("starting engine", "generating", "running")),
             message="the job under way")  # fmt: skip
    assert "starting the engine" in text_of(browser, "inf-events")


def test_analyze_page_loads_without_console_errors_and_only_local_requests(app, browser):
    browser.get(app.url + "/")
    wait_for(lambda: "problems," in text_of(browser, "table-summary"), message="the problem table")
    assert "grading.math.graded_generations" in _dataset_value(browser)  # graded training solutions first
    assert grid_row_ids(browser, "problems-grid") == ["math/train/0", "math/train/1", "math/train/2"]
    screenshot(browser, "analyze")
    assert console_errors(browser) == []
    resources = browser.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    assert resources and all(name.startswith(app.url) for name in resources), resources  # no CDN


def test_filters_change_the_rows_shown(app, browser):
    browser.get(app.url + "/")
    wait_for(lambda: len(grid_row_ids(browser, "problems-grid")) == 3, message="three problems")
    assert "12 solutions" in text_of(browser, "table-summary")
    tick(browser, "f-outcome", "correct")
    wait_for(lambda: "3 problems, 3 solutions" in text_of(browser, "table-summary"), message="correct only")
    choose(browser, "f-subject", "Geometry", multi=True)
    wait_for(
        lambda: grid_row_ids(browser, "problems-grid") == ["math/train/2"], message="the geometry problem"
    )
    choose(browser, "f-subject", "Algebra", multi=True)  # Algebra and Geometry
    wait_for(
        lambda: grid_row_ids(browser, "problems-grid") == ["math/train/0", "math/train/2"], message="two"
    )
    search = browser.find_element(By.ID, "f-problem-search")
    search.send_keys("triangle", Keys.ENTER)
    wait_for(lambda: grid_row_ids(browser, "problems-grid") == ["math/train/2"], message="the search")
    browser.get(app.url + "/")  # filters back to none
    wait_for(lambda: len(grid_row_ids(browser, "problems-grid")) == 3, message="three problems again")
    tick(browser, "f-code-errors", "some")
    wait_for(lambda: "3 problems, 3 solutions" in text_of(browser, "table-summary"), message="code errors")
    solution_search = browser.find_element(By.ID, "f-solution-search")
    solution_search.send_keys("ZeroDivision", Keys.ENTER)
    wait_for(
        lambda: "3 problems, 3 solutions" in text_of(browser, "table-summary"), message="solution search"
    )
    assert console_errors(browser) == []


def test_a_solution_renders_latex_code_and_sandbox_output(app, browser):
    browser.get(app.url + "/")
    wait_for(lambda: len(grid_row_ids(browser, "problems-grid")) == 3, message="the problems")
    click_row(browser, "problems-grid", "math/train/0")
    wait_for(lambda: text_of(browser, "problem-title") == "math/train/0", message="the problem")
    wait_for(
        lambda: browser.find_elements(By.CSS_SELECTOR, "#problem-view mjx-container"), message="problem math"
    )
    solution = wait_for(lambda: browser.find_element(By.ID, "solution-a").find_elements(By.CSS_SELECTOR, ".code-block"),
                        message="the code block")  # fmt: skip
    assert solution
    wait_for(
        lambda: browser.find_elements(By.CSS_SELECTOR, "#solution-a mjx-container svg"),
        message="MathJax output",
    )
    wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, "#solution-a .code-block code [class^='hljs']"),
             message="highlighted code")  # fmt: skip
    outputs = browser.find_elements(By.CSS_SELECTOR, "#solution-a .sandbox-output pre")
    assert [o.text for o in outputs] == ["5/6"]
    assert "<llm-code" not in text_of(browser, "solution-a")
    assert sorted(grid_row_ids(browser, "solutions-grid")) == [f"/models/teacher#{i}" for i in range(4)]
    screenshot(browser, "analyze-solution")
    assert console_errors(browser) == []


def test_compare_shows_two_models_side_by_side(app, browser):
    open_dataset(
        browser, app.url, "evaluation.base.gsm8k.greedy.graded_generations", "evaluation.base.gsm8k.greedy"
    )
    wait_for(
        lambda: grid_row_ids(browser, "problems-grid") == ["gsm8k/test/0", "gsm8k/test/1"], message="gsm8k"
    )
    click_row(browser, "problems-grid", "gsm8k/test/0")
    wait_for(lambda: "(base)" in text_of(browser, "solution-a"), message="solution A")
    choose(browser, "compare-dataset", "evaluation.finetuned.gsm8k.greedy.graded_generations")
    wait_for(lambda: "(finetuned)" in text_of(browser, "solution-b"), message="solution B")
    assert "41" in text_of(browser, "meta-a") and "42" in text_of(browser, "meta-b")
    assert browser.find_elements(By.CSS_SELECTOR, "#solution-a mjx-container")
    assert browser.find_elements(By.CSS_SELECTOR, "#solution-b mjx-container")
    screenshot(browser, "compare")
    assert console_errors(browser) == []


def test_a_label_is_saved_through_the_catalog(app, browser, inspector_project):
    browser.get(app.url + "/")
    wait_for(lambda: len(grid_row_ids(browser, "problems-grid")) == 3, message="the problems")
    click_row(browser, "problems-grid", "math/train/1")
    wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, "#solution-a .code-block"), message="solution A")
    choose(browser, "labels-a", "wrong reasoning, right answer", multi=True)
    browser.find_element(By.ID, "new-label").send_keys("checked by hand")
    browser.find_element(By.ID, "save-labels").click()
    wait_for(lambda: "saved" in text_of(browser, "label-message"), message="the save")
    wait_for(lambda: "checked by hand" in text_of(browser, "solutions-grid"), message="the label in the grid")
    with project_catalog(inspector_project) as catalog:
        labels = catalog.load("inspector.solutions.labels")
    assert sorted(labels["label"]) == ["checked by hand", "wrong reasoning, right answer"]
    assert set(labels["solution_set"]) == {"training.math"} and set(labels["problem_id"]) == {"math/train/1"}
    assert console_errors(browser) == []


def test_bad_input_gives_messages_and_the_app_keeps_serving(app, browser):
    browser.get(app.url + "/")
    wait_for(lambda: len(grid_row_ids(browser, "problems-grid")) == 3, message="the problems")
    # a custom statistic that works, one that raises, one that runs past its time limit
    browser.find_element(By.ID, "stat-name").send_keys("code_share")
    browser.find_element(By.ID, "stat-expression").send_keys('(col("code_errors") > 0).mean()')
    browser.find_element(By.ID, "stat-add").click()
    wait_for(lambda: "added code_share = 0.25" in text_of(browser, "stat-message"), message="the statistic")
    wait_for(
        lambda: "stat: code_share" in text_of(browser, "problems-grid"), message="the statistic's column"
    )
    fill(browser, "stat-expression", 'col("generation").cast(pl.Int64).sum()')
    browser.find_element(By.ID, "stat-add").click()
    wait_for(lambda: "not added" in text_of(browser, "stat-message"), message="the failing statistic")
    fill(browser, "stat-expression", '__import__("os").system("true")')
    browser.find_element(By.ID, "stat-add").click()
    wait_for(
        lambda: "unknown name '__import__'" in text_of(browser, "stat-message"), message="a refused statistic"
    )
    fill(browser, "stat-expression", 'lit("a").str.pad_end(200000000, "a").str.count_matches("a").sum()')
    fill(browser, "stat-timeout", "1")
    browser.find_element(By.ID, "stat-add").click()
    wait_for(lambda: "time limit" in text_of(browser, "stat-message"), timeout=30, message="the time limit")
    # a dataset that is not generations-shaped
    choose(browser, "dataset", "data_preparation.gsm8k.test_problems")
    wait_for(lambda: "not generations-shaped" in text_of(browser, "analyze-message"), message="the message")
    screenshot(browser, "bad-input")
    # still serving
    choose(browser, "dataset", "grading.math.graded_generations")
    wait_for(lambda: len(grid_row_ids(browser, "problems-grid")) == 3, message="the table again")
    assert console_errors(browser) == []


def test_inference_runs_the_code_interpreter_loop_through_the_sandbox(app, browser):
    browser.get(app.url + "/inference")  # the job id is kept in the tab's session storage
    wait_for(lambda: "done" in text_of(browser, "inf-status") or "failed" in text_of(browser, "inf-status"),
             timeout=240, message="the inference run")  # fmt: skip
    assert "done" in text_of(browser, "inf-status"), text_of(browser, "inf-result") + text_of(
        browser, "inf-events"
    )
    outputs = [o.text for o in browser.find_elements(By.CSS_SELECTOR, "#inf-solution .sandbox-output pre")]
    assert outputs and outputs[0] == "42", text_of(browser, "inf-solution")
    assert browser.find_elements(By.CSS_SELECTOR, "#inf-solution .code-block")
    assert "6 rows of 7 eggs" in text_of(browser, "inf-solution")  # the job shows its problem after a reload
    assert "verdict:" in text_of(browser, "inf-result")
    assert "sandbox output fed back" in text_of(browser, "inf-events")
    screenshot(browser, "inference")
    assert console_errors(browser) == []


def test_a_model_that_cannot_start_is_a_message(app, browser):
    browser.get(app.url + "/inference?problem=gsm8k/test/1")
    wait_for(
        lambda: "apples" in browser.find_element(By.ID, "inf-problem-text").get_attribute("value"),
        message="problem",
    )
    choose(browser, "inf-engine", "another checkpoint")
    browser.find_element(By.ID, "inf-custom-model").send_keys("/nonexistent/checkpoint")
    browser.find_element(By.ID, "inf-run").click()
    wait_for(lambda: "failed" in text_of(browser, "inf-status"), timeout=60, message="the failure")
    assert "/nonexistent/checkpoint" in text_of(browser, "inf-result")
    browser.get(app.url + "/")
    wait_for(lambda: len(grid_row_ids(browser, "problems-grid")) == 3, message="the app still serving")
    assert console_errors(browser) == []


def test_a_label_survives_a_restart(app, browser):
    app.restart()
    browser.get(app.url + "/")
    wait_for(lambda: len(grid_row_ids(browser, "problems-grid")) == 3, message="the problems")
    choose(browser, "f-label", "checked by hand", multi=True)
    wait_for(
        lambda: grid_row_ids(browser, "problems-grid") == ["math/train/1"], message="the labelled problem"
    )
    click_row(browser, "problems-grid", "math/train/1")
    wait_for(
        lambda: "checked by hand" in text_of(browser, "solutions-grid"), message="the label after a restart"
    )
    assert console_errors(browser) == []
