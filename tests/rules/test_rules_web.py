"""Rule events on the web preview: in ``/results.json`` and on the page in a real Chromium."""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

import edgekit
from edgekit.sinks import WebSink

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
DIGIT_RULES = [f"{d}>=0.6 for 2/3" for d in range(10)]


def _results(web: WebSink) -> dict:  # type: ignore[type-arg]
    with urllib.request.urlopen(web.url + "results.json", timeout=10) as response:
        return json.loads(response.read())


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[object]:
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        pytest.skip("needs the Debian packages chromium and chromium-driver")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 f"--user-data-dir={tmp_path / 'chromium-profile'}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


def test_results_json_says_which_rules_are_on_and_lists_their_events(default_model: Path) -> None:
    web = WebSink("127.0.0.1", 0)
    seen = []
    running = edgekit.stream(default_model, "demo", rules=DIGIT_RULES, sinks=[web], duration=30)
    for result in running:
        if any(running.rules.values()) and result.frame > 40:
            time.sleep(0.3)  # let the web sink's queue catch up
            seen.append(_results(web))
            running.stop()
    on = {name for name, state in running.rules.items() if state}
    assert seen, "a rule turned on"
    page = seen[-1]
    assert {name for name, e in page["rules"].items() if e["state"] == "on"} == on
    assert any(e["event"] == "rule" and e["rule"] in on for e in page["events"])


@pytest.mark.slow
def test_the_page_shows_the_rules_that_are_on(browser, default_model: Path) -> None:
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By

    web = WebSink("127.0.0.1", 0)
    running = edgekit.stream(default_model, "demo", rules=DIGIT_RULES, sinks=[web], duration=60)
    driver = threading.Thread(target=running.run, daemon=True)
    driver.start()
    try:
        browser.get(web.url)
        found = ""
        deadline = time.monotonic() + 40
        while not found and time.monotonic() < deadline:
            try:  # the page redraws its lists twice a second
                found = browser.execute_script(
                    "const on = document.querySelector('#rules li.on'); return on ? on.textContent : '';")
            except StaleElementReferenceException:
                found = ""
            time.sleep(0.2)
        assert found.endswith(": on") and found.split(":")[0] in DIGIT_RULES
        assert "rule" in browser.find_element(By.ID, "events").text
    finally:
        running.stop()
        driver.join(10)
