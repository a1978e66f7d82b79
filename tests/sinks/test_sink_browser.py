"""--serve in a real headless Chromium: a live image, stats that change, a screenshot."""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from sinks_helpers import detect_result, stats_for

from edgekit.sinks import WebSink

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[object]:
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        pytest.skip("needs the Debian packages chromium and chromium-driver")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 f"--user-data-dir={tmp_path / 'chromium-profile'}", "--window-size=1000,700"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


def _until(predicate, timeout: float = 20.0):  # noqa: ANN001, ANN202
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"not true within {timeout} s")


def test_preview_page_shows_a_live_image_and_changing_stats(browser, tmp_path: Path,  # noqa: ANN001
                                                            photos: list[np.ndarray]) -> None:
    from selenium.webdriver.common.by import By

    sink = WebSink("127.0.0.1", 0, token="tok en/+")
    stop = threading.Event()

    def feed() -> None:
        i = 0
        while not stop.is_set():
            sink.write(detect_result(i, box=(60, 40, 260, 220)), photos[(i // 10) % len(photos)],
                       stats_for(i))
            i += 1
            time.sleep(0.05)

    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    try:
        browser.get(sink.url + "?token=tok%20en%2F%2B")
        img = browser.find_element(By.ID, "stream")
        width = _until(lambda: browser.execute_script(
            "const i = arguments[0]; return i.complete && i.naturalWidth;", img))
        assert width == 320
        first = _until(lambda: browser.find_element(By.ID, "frame").text not in ("", "-")
                       and browser.find_element(By.ID, "frame").text)
        later = _until(lambda: int(browser.find_element(By.ID, "frame").text) > int(first) + 3
                       and browser.find_element(By.ID, "frame").text)
        assert int(later) > int(first)
        assert browser.find_element(By.ID, "state").text == "live"
        assert browser.find_element(By.ID, "results").text.startswith("person 0.88")
        assert float(browser.find_element(By.ID, "fps").text) >= 20.0
        shot = tmp_path / "preview.png"
        assert browser.save_screenshot(str(shot))
    finally:
        stop.set()
        feeder.join(5)
        sink.close()
    import cv2

    image = cv2.imread(str(shot))
    assert image is not None and image.shape[0] >= 300 and image.shape[1] >= 300
    assert shot.stat().st_size > 20_000 and image.std() > 20  # a photo, not a blank page
    shutil.copy(shot, tmp_path / "kept-preview.png")


def test_page_without_the_token_is_refused(browser) -> None:  # noqa: ANN001
    sink = WebSink("127.0.0.1", 0, token="secret")
    try:
        browser.get(sink.url)
        assert "token required" in browser.page_source
    finally:
        sink.close()
