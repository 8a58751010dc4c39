"""The browser tests list the screenshots they kept at the end of the run."""

from tests.browser.chromium import SCREENSHOTS


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    paths = config.stash.get(SCREENSHOTS, [])
    if paths:
        terminalreporter.write_sep("-", "browser screenshots")
        for path in paths:
            terminalreporter.write_line(path)
