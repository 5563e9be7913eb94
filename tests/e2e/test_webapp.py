"""The loan officer's page (``/app``), driven in a real headless Chromium against real servers.

Chromium and chromedriver are Debian's (``make browser`` installs
them as root when missing); selenium talks to them, nothing downloads a browser.
Without them these tests skip, but under CI they fail. Every test saves its
screenshots under its own ``tmp_path``.
"""

from __future__ import annotations

import csv
import io
import json
import re
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit

import httpx
import pytest
from axe_selenium_python import Axe
from selenium import webdriver
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.chrome.service import Service as ChromeService
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import Select, WebDriverWait

from credit_risk.fairness.report import cells
from credit_risk.generator import ApplicationGenerator
from credit_risk.model.metadata import GroupFairness, Reference
from credit_risk.schema import COURSE_EXAMPLE, MAX_BATCH_SIZE
from credit_risk.serving.webapp import PAGE_PATH
from credit_risk.vocabulary import APPLICATION_FIELDS, CATEGORIES
from tests.support.ci import unavailable
from tests.support.servers import Server, start_server

CHROMIUM: Final = Path("/usr/bin/chromium")
CHROMEDRIVER: Final = Path("/usr/bin/chromedriver")
CHROMIUM_FLAGS: Final = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)
DESKTOP: Final = (1280, 1400)
PHONE_WIDTH: Final = 375
WAIT_S: Final = 30
API_KEY: Final = "web-page-test-key-0123456789"
BATCH_ROWS: Final = 200
AXE_TAGS: Final = ["wcag2a", "wcag2aa"]


@pytest.fixture(scope="session")
def chromium() -> None:
    """Debian's Chromium and chromedriver, or a skip (a failure under CI)."""
    missing = [str(path) for path in (CHROMIUM, CHROMEDRIVER) if not path.is_file()]
    if missing:
        unavailable("browser tests", f"{', '.join(missing)} missing: run `make browser` (as root)")


@pytest.fixture(scope="module")
def page_server(tmp_root: Path, trained_model: str) -> Iterator[Server]:
    """The service from the source tree, without an API key."""
    running = start_server(tmp_root, "embedded")
    yield running
    running.stop()


@pytest.fixture(scope="module")
def keyed_server(tmp_root: Path, trained_model: str) -> Iterator[Server]:
    """The service with CREDIT_RISK_API_KEY set."""
    running = start_server(tmp_root, "embedded", extra_env={"CREDIT_RISK_API_KEY": API_KEY})
    yield running
    running.stop()


@dataclass
class Browser:
    """A headless Chromium with its own profile, download folder and screenshot folder."""

    driver: webdriver.Chrome
    downloads: Path
    screenshots: Path

    def open(self, server: Server) -> None:
        """Load the page and wait until it has built its form from the API."""
        self.driver.get(f"{server.url}{PAGE_PATH}")
        self.until(lambda d: d.execute_script("return document.body.dataset.ready") == "true")

    def until(self, condition: Callable[[webdriver.Chrome], Any], timeout: float = WAIT_S) -> Any:
        """Wait for ``condition`` to hold, failing with a screenshot's path."""
        try:
            return WebDriverWait(self.driver, timeout).until(condition)
        except TimeoutException:
            path = self.shot("timeout")
            raise AssertionError(f"condition not met in {timeout} s; see {path}") from None

    def by_id(self, element_id: str) -> WebElement:
        """The element with this id."""
        return self.driver.find_element(By.ID, element_id)

    def shot(self, name: str) -> Path:
        """Save a full-page screenshot under the test's tmp_path."""
        path = self.screenshots / f"{name}.png"
        height = self.driver.execute_script("return document.documentElement.scrollHeight")
        width = self.driver.get_window_size()["width"]
        self.driver.set_window_size(width, max(height, 400))
        self.driver.save_screenshot(str(path))
        return path

    def console_errors(self) -> list[dict[str, Any]]:
        """What the page logged at SEVERE level (script errors, policy violations)."""
        return [entry for entry in self.driver.get_log("browser") if entry["level"] == "SEVERE"]

    def decide(self) -> str:
        """Press Decide; returns the status word shown."""
        self.by_id("decide").click()
        self.until(lambda d: d.find_element(By.ID, "decision").is_displayed())
        return self.by_id("status-word").text

    def set_field(self, name: str, value: str) -> None:
        """Type a value into a numeric field."""
        field = self.by_id(f"field-{name}")
        field.clear()
        field.send_keys(value)

    def axe_violations(self) -> list[dict[str, Any]]:
        """axe-core's WCAG 2 A and AA violations on the page as it is now."""
        axe = Axe(self.driver)
        axe.inject()
        options = json.dumps({"runOnly": {"type": "tag", "values": AXE_TAGS}})
        return axe.run(options=options)["violations"]


@pytest.fixture
def browser(chromium: None, tmp_path: Path) -> Iterator[Browser]:
    """A fresh headless Chromium (new profile: empty session storage) for each test."""
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path / 'profile'}")
    options.add_argument(f"--window-size={DESKTOP[0]},{DESKTOP[1]}")
    options.add_experimental_option(
        "prefs",
        {"download.default_directory": str(downloads), "download.prompt_for_download": False},
    )
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=ChromeService(str(CHROMEDRIVER)))
    try:
        driver.set_page_load_timeout(WAIT_S)
        driver.execute_cdp_cmd(
            "Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)}
        )
        yield Browser(driver, downloads, tmp_path)
    finally:
        driver.quit()


def _raw_post(server: Server, path: str, body: bytes) -> bytes:
    """A POST sent as written: no client library normalises ``..`` away."""
    address = urlsplit(server.url)
    with socket.create_connection((address.hostname, address.port), timeout=10) as raw:
        raw.sendall(
            f"POST {path} HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
            + body
        )
        answer = b""
        while chunk := raw.recv(65536):
            answer += chunk
    return answer


def _classify(server: Server, application: dict[str, Any]) -> dict[str, Any]:
    response = httpx.post(f"{server.url}/classify", json=application, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()


# --- Serving --------------------------------------------------------------------


def test_page_and_its_files_are_served(client: httpx.Client) -> None:
    # Every server kind, the bento's included: its files travel with the service.
    redirect = client.get(PAGE_PATH)
    assert redirect.status_code == 307
    assert redirect.headers["location"].endswith(f"{PAGE_PATH}/")
    page = client.get(f"{PAGE_PATH}/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "<title>Credit decisions</title>" in page.text
    policy = page.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "connect-src 'self'" in policy
    for name, media_type in (("app.js", "javascript"), ("app.css", "text/css")):
        asset = client.get(f"{PAGE_PATH}/{name}")
        assert asset.status_code == 200, name
        assert media_type in asset.headers["content-type"]
    # Only the static folder is served, not the package's Python beside it.
    for name in ("__init__.py", "mount.py", "../mount.py", "nothing.html"):
        assert client.get(f"{PAGE_PATH}/{name}").status_code == 404, name
    # Swagger UI keeps the root.
    assert "swagger" in client.get("/").text.lower()


def test_page_writes_no_second_schema() -> None:
    # The page reads fields, vocabularies, ranges and defaults from the API; none of
    # them may be written into its files, where they would drift from schema.py.
    from credit_risk.serving.webapp import STATIC_DIR

    words = {*APPLICATION_FIELDS, *(label for labels in CATEGORIES.values() for label in labels)}
    words -= {"time", "age", "unk", "other", "others", "no", "yes"}  # also plain English
    for path in STATIC_DIR.iterdir():
        found = sorted(word for word in words if re.search(rf"\b{word}\b", path.read_text()))
        assert found == [], f"{path.name} names {found}"


# --- One application ----------------------------------------------------------


def test_course_application_shows_maybe_score_and_four_reasons(
    browser: Browser, page_server: Server
) -> None:
    browser.open(page_server)
    # The form is the served schema's: its fields, vocabularies and example.
    fields = browser.driver.find_elements(By.CSS_SELECTOR, "#fields .field")
    assert [field.get_attribute("data-field") for field in fields] == list(APPLICATION_FIELDS)
    for name, labels in CATEGORIES.items():
        select = Select(browser.by_id(f"field-{name}"))
        assert tuple(option.get_attribute("value") for option in select.options) == labels
        assert select.first_selected_option.get_attribute("value") == COURSE_EXAMPLE[name]
    for name in APPLICATION_FIELDS:
        if name not in CATEGORIES:
            shown = browser.by_id(f"field-{name}").get_attribute("value")
            assert float(shown) == COURSE_EXAMPLE[name], name
    # Ranges from the schema and from the model's training data.
    age_hint = browser.by_id("hint-age").text
    assert "Allowed: 18 to 100." in age_hint
    assert "Training data:" in age_hint

    # Filled in by hand too, as an officer would, over a changed form.
    browser.set_field("age", "40")
    Select(browser.by_id("field-home")).select_by_value("rent")
    for name, value in COURSE_EXAMPLE.items():
        if name in CATEGORIES:
            Select(browser.by_id(f"field-{name}")).select_by_value(str(value))
        else:
            browser.set_field(name, str(value))

    assert browser.decide() == "MAYBE"
    expected = _classify(page_server, COURSE_EXAMPLE)
    assert browser.by_id("score").text == str(expected["score"])
    assert browser.by_id("probability").text == f"{100 * expected['default_probability']:.1f}%"
    assert browser.by_id("model-tag").text == expected["model_tag"]
    assert browser.by_id("policy-version").text == expected["policy_version"]
    decision_id = browser.by_id("decision-id").text
    assert len(decision_id) == 36 and decision_id != expected["decision_id"]
    reasons = browser.driver.find_elements(By.CSS_SELECTOR, "#reasons .reason")
    assert len(reasons) == 4
    assert [reason.get_attribute("data-code") for reason in reasons] == [
        reason["code"] for reason in expected["reasons"]
    ]
    texts = [reason.find_element(By.CLASS_NAME, "reason-text").text for reason in reasons]
    assert texts == [reason["text"] for reason in expected["reasons"]]
    widths = [
        reason.find_element(By.CLASS_NAME, "bar").size["width"] for reason in reasons
    ]  # the bars are drawn to scale, largest first
    assert widths == sorted(widths, reverse=True) and widths[-1] > 0
    assert not browser.by_id("range-warning").is_displayed()

    browser.by_id("copy-id").click()
    browser.until(lambda d: d.find_element(By.ID, "copy-status").text != "")
    assert browser.by_id("copy-status").text in ("Copied.", "Selected: press Ctrl+C.")
    browser.shot("course-application")
    # The policy forbids anything from elsewhere, inline scripts and styles: the
    # page works within it, with no script error and no violation reported.
    assert browser.console_errors() == []


def test_model_view_shows_the_proofs_the_fairness_table_and_opens_the_card(
    browser: Browser, page_server: Server
) -> None:
    browser.open(page_server)
    card = httpx.post(f"{page_server.url}/model", json={}).json()
    view = browser.by_id("model-view")
    view.find_element(By.TAG_NAME, "summary").click()
    proofs = browser.by_id("model-proofs").text
    assert "aged 62 or more are never penalised" in proofs
    assert "Not scored: marital (protected)." in proofs
    rows = browser.driver.find_elements(By.CSS_SELECTOR, "#fairness-table tbody tr")
    # The same figures as the model card's table (credit_risk.fairness.report.cells).
    assert [
        [cell.text for cell in row.find_elements(By.CSS_SELECTOR, "th, td")] for row in rows
    ] == [list(cells(GroupFairness.model_validate(row))) for row in card["fairness"]["rows"]]
    browser.shot("model-view")
    tabs = set(browser.driver.window_handles)
    browser.by_id("open-card").click()
    browser.until(lambda d: len(d.window_handles) == len(tabs) + 1)
    assert card["model_tag"] in browser.by_id("card-status").text
    (opened,) = set(browser.driver.window_handles) - tabs
    browser.driver.switch_to.window(opened)
    browser.until(lambda d: d.find_elements(By.TAG_NAME, "h1"))
    assert browser.driver.find_element(By.TAG_NAME, "h1").text == f"Model card: {card['model_tag']}"
    browser.driver.close()
    browser.driver.switch_to.window(next(iter(tabs)))


def test_not_declared_sends_null_and_out_of_range_is_warned(
    browser: Browser, page_server: Server
) -> None:
    browser.open(page_server)
    browser.by_id("undeclared-assets").click()
    assert not browser.by_id("field-assets").is_enabled()
    browser.set_field("seniority", "60")  # allowed, but beyond the training data (0-48)
    status = browser.decide()
    expected = _classify(page_server, {**COURSE_EXAMPLE, "assets": None, "seniority": 60})
    with_assets = _classify(page_server, {**COURSE_EXAMPLE, "seniority": 60})
    assert expected["default_probability"] != with_assets["default_probability"]
    assert status == expected["status"]
    assert browser.by_id("score").text == str(expected["score"])
    assert expected["out_of_training_range"] == ["seniority"]
    warning = browser.by_id("range-warning")
    assert warning.is_displayed()
    assert "Seniority is outside what the model saw in training" in warning.text
    browser.shot("not-declared-and-out-of-range")


def test_field_error_appears_next_to_its_field(browser: Browser, page_server: Server) -> None:
    browser.open(page_server)
    browser.set_field("age", "17")
    browser.by_id("decide").click()
    error = browser.until(lambda d: d.find_element(By.ID, "error-age").is_displayed() and d)
    message = error.find_element(By.ID, "error-age")
    assert "greater than or equal to 18" in message.text
    age = browser.by_id("field-age")
    # Next to it: in the same field block, named by the input's description,
    # and the input is marked invalid and focused.
    container = message.find_element(By.XPATH, "./ancestor::div[@data-field]")
    assert container.get_attribute("data-field") == "age"
    assert "error-age" in age.get_attribute("aria-describedby").split()
    assert age.get_attribute("aria-invalid") == "true"
    assert browser.driver.switch_to.active_element == age
    assert "Age" in browser.by_id("form-error").text
    other_errors = [
        element
        for element in browser.driver.find_elements(By.CSS_SELECTOR, ".field-error")
        if element.is_displayed()
    ]
    assert other_errors == [message]
    assert not browser.by_id("decision").is_displayed()
    browser.shot("field-error")

    browser.set_field("age", "26")
    assert browser.decide() == "MAYBE"
    assert not message.is_displayed()


def test_keyboard_alone_fills_and_submits(browser: Browser, page_server: Server) -> None:
    browser.open(page_server)
    body = browser.driver.find_element(By.TAG_NAME, "body")
    body.send_keys(Keys.TAB)
    assert browser.driver.switch_to.active_element.get_attribute("class") == "skip-link"
    browser.driver.switch_to.active_element.send_keys(Keys.ENTER)
    # Tab on to the term, type over it, then on to Decide.
    reached: list[str] = []

    def tab_to(element_id: str) -> WebElement:
        for _ in range(60):
            browser.driver.switch_to.active_element.send_keys(Keys.TAB)
            reached.append(browser.driver.switch_to.active_element.get_attribute("id"))
            if reached[-1] == element_id:
                return browser.driver.switch_to.active_element
        raise AssertionError(f"{element_id} not reached by Tab: {reached}")

    term = tab_to("field-time")
    term.send_keys(Keys.CONTROL, "a")
    term.send_keys("48")
    tab_to("decide")
    browser.driver.switch_to.active_element.send_keys(Keys.ENTER)
    browser.until(lambda d: d.find_element(By.ID, "decision").is_displayed())
    expected = _classify(page_server, {**COURSE_EXAMPLE, "time": 48})
    assert browser.by_id("status-word").text == expected["status"]
    assert browser.by_id("score").text == str(expected["score"])
    # Every field, and each "not declared" box, was reached on the way, in order.
    fields = [f"field-{name}" for name in APPLICATION_FIELDS]
    assert [element_id for element_id in reached if element_id in fields] == fields
    assert {"undeclared-income", "undeclared-assets", "undeclared-debt"} <= set(reached)


def test_page_passes_axe_and_fits_a_phone(browser: Browser, page_server: Server) -> None:
    browser.open(page_server)
    browser.decide()
    violations = browser.axe_violations()
    assert violations == [], json.dumps(violations, indent=1)[:4000]
    labels = browser.driver.execute_script(
        "return [...document.querySelectorAll('input, select')]"
        ".filter(c => c.type !== 'hidden').map(c => c.labels.length)"
    )
    assert labels and all(count >= 1 for count in labels)

    browser.driver.set_window_size(PHONE_WIDTH, 900)
    browser.open(page_server)
    browser.decide()
    overflow = browser.driver.execute_script(
        "return document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0
    decide = browser.by_id("decide").rect
    assert decide["x"] >= 0 and decide["x"] + decide["width"] <= PHONE_WIDTH
    assert browser.axe_violations() == []
    browser.shot("phone")


# --- The API key ---------------------------------------------------------------


def test_keyed_server_opens_the_page_and_asks_for_the_key(
    browser: Browser, keyed_server: Server
) -> None:
    with httpx.Client(base_url=keyed_server.url, timeout=30) as anonymous:
        for path in (PAGE_PATH, f"{PAGE_PATH}/", f"{PAGE_PATH}/app.js", f"{PAGE_PATH}/app.css"):
            assert anonymous.get(path).status_code in (200, 307), path
        assert anonymous.post("/classify", json=COURSE_EXAMPLE).status_code == 401
        # Open is the mount, not anything that starts like it.
        assert anonymous.get("/application").status_code == 401
    # The guard lets anything under the mount through, but only the page's files
    # answer there: a path that climbs out of it reaches no endpoint.
    for path in (f"{PAGE_PATH}/../classify", f"{PAGE_PATH}/%2e%2e/classify"):
        answer = _raw_post(keyed_server, path, json.dumps(COURSE_EXAMPLE).encode())
        assert answer.split(b" ", 2)[1] in (b"404", b"405"), answer[:200]

    browser.open(keyed_server)
    assert "Enter the API key" in browser.by_id("model-line").text
    browser.by_id("decide").click()
    browser.until(lambda d: "needs an API key" in d.find_element(By.ID, "key-status").text)
    key_field = browser.by_id("api-key")
    assert browser.driver.switch_to.active_element == key_field
    assert not browser.by_id("decision").is_displayed()
    assert "API key is needed" in browser.by_id("form-error").text
    browser.shot("asks-for-the-key")

    key_field.send_keys("not-the-key-but-long-enough")
    browser.driver.find_element(By.CSS_SELECTOR, "#key-form button[type=submit]").click()
    browser.by_id("decide").click()
    browser.until(lambda d: "not valid" in d.find_element(By.ID, "key-status").text)

    key_field.send_keys(API_KEY)
    browser.driver.find_element(By.CSS_SELECTOR, "#key-form button[type=submit]").click()
    browser.until(lambda d: "Model credit_risk_model:" in d.find_element(By.ID, "model-line").text)
    assert browser.decide() == "MAYBE"
    # Kept in this tab's session storage only; never in the address or the field.
    storage = browser.driver.execute_script(
        "return [JSON.stringify(sessionStorage), JSON.stringify(localStorage)]"
    )
    assert API_KEY in storage[0] and API_KEY not in storage[1]
    assert API_KEY not in browser.driver.current_url
    assert key_field.get_attribute("value") == ""
    # A reload in the same tab keeps it; forgetting it asks again.
    browser.open(keyed_server)
    assert browser.decide() == "MAYBE"
    browser.by_id("forget-key").click()
    browser.by_id("decide").click()
    browser.until(lambda d: "needs an API key" in d.find_element(By.ID, "key-status").text)
    assert "credit-risk" not in browser.driver.execute_script(
        "return JSON.stringify(sessionStorage)"
    )


# --- Many applications ---------------------------------------------------------


def _csv_text(applications: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(APPLICATION_FIELDS), lineterminator="\n")
    writer.writeheader()
    for application in applications:
        writer.writerow({k: "" if v is None else v for k, v in application.items()})
    return out.getvalue()


def _downloaded(folder: Path) -> Path:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        done = [path for path in folder.glob("*.csv")]
        if done and not list(folder.glob("*.crdownload")):
            return done[0]
        time.sleep(0.1)
    raise AssertionError(f"no download in {folder}: {list(folder.iterdir())}")


def _column(browser: Browser, index: int) -> list[str]:
    # One script call, not a WebDriver round trip per row.
    return browser.driver.execute_script(
        "return [...document.querySelectorAll('#results-table tbody tr')]"
        ".map(row => row.cells[arguments[0]].innerText)",
        index,
    )


def test_csv_upload_of_200_applications_matches_classify_batch(
    browser: Browser, page_server: Server, tmp_path: Path
) -> None:
    card = httpx.post(f"{page_server.url}/model", json={}, timeout=30).json()
    applications = ApplicationGenerator(Reference.model_validate(card["reference"]), seed=11).draw(
        BATCH_ROWS
    )
    upload = tmp_path / "applications.csv"
    upload.write_text(_csv_text(applications))

    browser.open(page_server)
    browser.by_id("csv-file").send_keys(str(upload))
    browser.by_id("decide-all").click()
    browser.until(
        lambda d: "200 applications decided" in d.find_element(By.ID, "batch-status").text
    )
    rows = browser.driver.find_elements(By.CSS_SELECTOR, "#results-table tbody tr")
    assert len(rows) == BATCH_ROWS
    assert not browser.by_id("batch-errors").is_displayed()

    # Sortable: by score, ascending then descending.
    headers = browser.driver.find_elements(By.CSS_SELECTOR, "#results-table thead th")
    titles = [header.text for header in headers]
    score_column = titles.index("Score")
    headers[score_column].find_element(By.TAG_NAME, "button").click()
    assert headers[score_column].get_attribute("aria-sort") == "ascending"
    scores = [int(score) for score in _column(browser, score_column)]
    assert scores == sorted(scores) and scores[0] < scores[-1]
    headers[score_column].find_element(By.TAG_NAME, "button").click()
    assert headers[score_column].get_attribute("aria-sort") == "descending"
    assert [int(score) for score in _column(browser, score_column)] == sorted(scores, reverse=True)
    browser.shot("batch")

    browser.by_id("download").click()
    downloaded = list(csv.DictReader(io.StringIO(_downloaded(browser.downloads).read_text())))
    answer = httpx.post(
        f"{page_server.url}/classify_batch", json={"applications": applications}, timeout=60
    )
    assert answer.status_code == 200, answer.text
    expected = answer.json()["decisions"]
    assert len(downloaded) == len(expected) == BATCH_ROWS
    for line, (row, decision, application) in enumerate(
        zip(downloaded, expected, applications, strict=True), start=2
    ):
        # The uploaded columns come back as they were, in file order.
        assert {name: row[name] for name in APPLICATION_FIELDS} == {
            name: "" if value is None else str(value) for name, value in application.items()
        }, line
        assert row["status"] == decision["status"], line
        assert int(row["score"]) == decision["score"], line
        assert float(row["default_probability"]) == pytest.approx(
            decision["default_probability"], abs=1e-7
        ), line
        assert row["reason_codes"].split() == [reason["code"] for reason in decision["reasons"]]
        assert row["out_of_training_range"].split() == decision["out_of_training_range"]
        assert row["model_tag"] == decision["model_tag"]
        assert row["policy_version"] == decision["policy_version"]
    assert len({row["decision_id"] for row in downloaded}) == BATCH_ROWS
    assert browser.console_errors() == []


def test_csv_in_chunks_and_errors_by_line(
    browser: Browser, page_server: Server, tmp_path: Path
) -> None:
    # One more than a batch: two requests, and the page says so by lines decided.
    chunked = tmp_path / "chunked.csv"
    chunked.write_text(_csv_text([COURSE_EXAMPLE] * (MAX_BATCH_SIZE + 1)))
    browser.open(page_server)
    browser.by_id("csv-file").send_keys(str(chunked))
    browser.by_id("decide-all").click()
    browser.until(
        lambda d: "1,001 applications decided" in d.find_element(By.ID, "batch-status").text
    )
    lines = _column(browser, 0)
    assert lines[0] == "2" and lines[-1] == str(MAX_BATCH_SIZE + 2)

    broken = tmp_path / "broken.csv"
    broken.write_text(_csv_text([COURSE_EXAMPLE, {**COURSE_EXAMPLE, "age": 17}]))
    browser.by_id("csv-file").send_keys(str(broken))
    browser.by_id("decide-all").click()
    errors = browser.until(lambda d: d.find_element(By.ID, "batch-errors").is_displayed() and d)
    text = errors.find_element(By.ID, "batch-errors").text
    assert "Line 3, age: Input should be greater than or equal to 18" in text
    assert "0 of 2 applications decided" in browser.by_id("batch-status").text

    headless = tmp_path / "no-header.csv"
    headless.write_text("3,owner,36\n")
    browser.by_id("csv-file").send_keys(str(headless))
    browser.by_id("decide-all").click()
    browser.until(lambda d: "header" in d.find_element(By.ID, "batch-errors").text)
    browser.shot("batch-errors")
