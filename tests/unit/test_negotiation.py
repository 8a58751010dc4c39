"""Accept header negotiation (RFC 9110 §12.5.1): qualities, specificity, malformed ranges."""

import pytest

from app.core.negotiation import media_ranges, preferred

OFFERED = ("application/json", "application/x-research-info-systems", "application/x-bibtex")


@pytest.mark.parametrize(("accept", "chosen"), [
    (None, "application/json"),
    ("", "application/json"),
    ("*/*", "application/json"),  # ties go to the first offered
    ("application/x-bibtex", "application/x-bibtex"),
    ("application/x-bibtex;q=0.5, application/x-research-info-systems",
     "application/x-research-info-systems"),
    # The most specific range decides: json is refused even though */* accepts it.
    ("application/json;q=0, */*;q=0.1", "application/x-research-info-systems"),
    ("application/*;q=0.3, application/x-bibtex;q=0.4", "application/x-bibtex"),
    ("text/html, application/x-bibtex;charset=utf-8;q=0.2", "application/x-bibtex"),
    (" Application/X-BibTeX ; Q=1 ", "application/x-bibtex"),
    ("application/x-bibtex;q=1.0001, application/x-research-info-systems",
     "application/x-research-info-systems"),  # an invalid qvalue drops its range
    ("garbage", "application/json"),  # nothing well-formed: as if absent
    ("text/html", None),
    ("*/*;q=0", None),
    ("text/*, image/png", None),
])
def test_preferred(accept, chosen):
    assert preferred(accept, OFFERED) == chosen


def test_media_ranges_skip_malformed_members():
    assert media_ranges("text/html;q=0.5, */html, /x, a/, b, ,application/json;q=0.250") == [
        ("text", "html", 0.5), ("application", "json", 0.25)]
