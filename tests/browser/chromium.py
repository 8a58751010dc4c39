"""Headless Chromium for the browser tests: Debian's `chromium` driven by its own
`chromedriver` (package chromium-driver) through Selenium, and a static file server.

Never a downloaded browser: the driver path is given, so Selenium Manager (which would
fetch one) is never asked. Nothing the browser does leaves the machine: every host name
but 127.0.0.1 fails to resolve, background networking is off, and every request a page
makes is read back from the DevTools log (`requests`) for the tests to check.
"""

import json
import os
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
INSTALL = "apt-get install -y chromium chromium-driver"
ARGUMENTS = (
    "--headless=new",
    "--no-sandbox",  # CI runs as root, where Chromium's sandbox cannot start
    "--disable-dev-shm-usage",
    "--disable-gpu",
    "--window-size=1400,1200",
    "--lang=en-US",
    # Loopback only: any other host name fails, so no request can leave the machine.
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-default-apps",
    "--disable-extensions",
    "--disable-sync",
    "--no-first-run",
    "--no-default-browser-check",
)
WAIT_SECONDS = 30  # a bound on each wait for the page, never a timing assertion
SCREENSHOTS = pytest.StashKey[list[str]]()  # paths kept by the tests, listed at the end


def require_browser() -> None:
    """Skip without Chromium, chromedriver or Selenium; under CI (CI=true), fail instead."""
    missing = [path for path in (CHROMIUM, CHROMEDRIVER) if not Path(path).is_file()]
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing.append("the selenium package (make install)")
    if missing:
        reason = f"browser tests need {', '.join(missing)}: {INSTALL}"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)  # .ci/run installs them: never skip silently there
        pytest.skip(reason)


@contextmanager
def chromium(workdir: Path) -> Iterator[Any]:
    """A headless Chromium session; quit (browser and driver) however the block ends."""
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = CHROMIUM
    for argument in ARGUMENTS:
        options.add_argument(argument)
    options.add_argument(f"--user-data-dir={workdir / 'profile'}")
    options.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
    service = Service(executable_path=CHROMEDRIVER,
                      log_output=str(workdir / "chromedriver.log"))
    driver = webdriver.Chrome(service=service, options=options)
    driver.set_page_load_timeout(WAIT_SECONDS)
    try:
        yield driver
    finally:
        driver.quit()


def wait_until(driver: Any, condition, what: str) -> Any:
    """Wait (bounded) until condition(driver) is truthy; fail naming what was awaited."""
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.support.ui import WebDriverWait

    try:
        return WebDriverWait(driver, WAIT_SECONDS, poll_frequency=0.05).until(condition)
    except TimeoutException:
        console = [entry["message"] for entry in driver.get_log("browser")]
        raise AssertionError(f"timed out after {WAIT_SECONDS} s waiting for {what}; "
                             f"console: {console}") from None


def requests(driver: Any) -> list[dict[str, Any]]:
    """The requests the browser made since the last call: url, and why it failed if it did
    (`blocked`: e.g. "csp" for one the page's policy stopped before it was sent)."""
    made: dict[str, dict[str, Any]] = {}
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        params = message.get("params", {})
        if message["method"] == "Network.requestWillBeSent":
            made.setdefault(params["requestId"], {"url": params["request"]["url"]})
        elif message["method"] == "Network.loadingFailed" and params["requestId"] in made:
            made[params["requestId"]] |= {"error": params.get("errorText"),
                                          "blocked": params.get("blockedReason")}
    return list(made.values())


def origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the base's name)
        pass


@contextmanager
def static_site(directory: Path) -> Iterator[str]:
    """Serve a folder on a free loopback port (another origin than the API's); its URL."""
    handler = partial(_QuietHandler, directory=str(directory))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
