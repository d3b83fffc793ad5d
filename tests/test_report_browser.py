"""report.html in a real headless browser: it renders its images and runs no script.

Needs Debian's ``chromium`` (``apt-get install chromium``); skipped with a reason where it is absent.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from taskgroup.reporting import render_report

FIXTURE = Path(__file__).parent / "fixtures" / "run_small"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--hide-scrollbars", "--mute-audio"]

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)")]


def chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    """Run chromium once with a fresh profile; fail with its output when it does not finish cleanly."""
    profile = tmp_path / f"profile-{len(list(tmp_path.glob('profile-*')))}"
    done = subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args], capture_output=True,
                          text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-2000:]
    return done


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run = tmp_path_factory.mktemp("browser") / "run"
    shutil.copytree(FIXTURE, run)
    return render_report(run)["html"]


class _Dom(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def test_screenshot_shows_the_page_and_its_figures(report: Path, tmp_path: Path) -> None:
    from PIL import Image

    shot = tmp_path / "report.png"
    chromium(tmp_path, f"--screenshot={shot}", "--window-size=1280,2000", report.as_uri())
    image = np.asarray(Image.open(shot).convert("RGB")).astype(int)
    assert image.shape == (2000, 1280, 3)
    ink = (image.min(axis=2) < 200).mean()
    assert 0.03 < ink < 0.9, f"the page looks blank or broken ({ink:.1%} of pixels inked)"
    r, g, b = image[..., 0], image[..., 1], image[..., 2]
    heat_blue = ((b - r > 70) & (r < 90)).sum()    # RdBu's blue end: heatmap cells, only from a drawn figure
    heat_red = ((r - b > 70) & (g < 170)).sum()
    assert heat_blue > 6000 and heat_red > 3000, "the first heatmap did not render in the first screen"
    verdict_green = ((abs(r - 0xDA) < 4) & (abs(g - 0xFB) < 4) & (abs(b - 0xE1) < 4)).sum()
    assert verdict_green > 20000, "the verdict box is missing from the first screen"


def test_dom_has_inline_images_and_no_script(report: Path, tmp_path: Path) -> None:
    dom = chromium(tmp_path, "--dump-dom", report.as_uri()).stdout
    parser = _Dom()
    parser.feed(dom)
    tags = parser.tags
    imgs = [a for t, a in tags if t == "img"]
    assert len(imgs) == 7
    assert all((a.get("src") or "").startswith("data:image/png;base64,") for a in imgs)
    assert all(a.get("alt") for a in imgs)
    assert "script" not in {t for t, _ in tags} and "<script" not in dom.lower()
    assert not [k for _, a in tags for k in a if k.startswith("on")]
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in dom  # the hostile task name stayed text
    assert not re.search(r"""(?:src|href)=["']?(?:https?:)?//""", dom)


LONG = "a_very_long_task_name_" * 23   # about 500 characters, no spaces


@pytest.fixture(scope="module")
def long_name_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fixture run with one task renamed to a 500-character name."""
    run = tmp_path_factory.mktemp("long") / "run"
    shutil.copytree(FIXTURE, run)
    for path in run.iterdir():
        if path.is_file():
            path.write_text(path.read_text(encoding="utf-8").replace("age_years", LONG), encoding="utf-8")
    return render_report(run)["html"]


@pytest.mark.parametrize("which", ["report", "long_name_report"])
def test_nothing_overflows_a_1280_pixel_screen(which: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    from browser_probe import overflow

    result = overflow(request.getfixturevalue(which), tmp_path)
    assert result["width"] == 1280
    assert result["overflow"] == []


def test_first_screen_and_comparison_screenshots(long_name_report: Path, tmp_path: Path) -> None:
    from PIL import Image

    from browser_probe import screenshot

    for section in (None, "comparison"):
        shot = screenshot(long_name_report, tmp_path / f"{section or 'first'}.png", section)
        image = np.asarray(Image.open(shot).convert("RGB")).astype(int)
        assert image.shape == (800, 1280, 3)
        ink = (image.min(axis=2) < 200).mean()
        assert 0.02 < ink < 0.6, f"{shot.name} looks blank or broken ({ink:.1%} of pixels inked)"
    html = long_name_report.read_text(encoding="utf-8")
    assert f'title="{LONG}"' in html      # shortened in the page, the full name on hover
