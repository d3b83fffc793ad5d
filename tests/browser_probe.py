"""Headless-chromium helpers for the report tests: screenshots of a section, and horizontal overflow.

The report forbids scripts (Content-Security-Policy); a probe works on a copy with the policy
removed and one measuring script appended, whose result it writes into the DOM for ``--dump-dom``.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--hide-scrollbars", "--mute-audio"]

MEASURE = """<script>
window.addEventListener('load', function () {
  var root = document.documentElement, bad = [];
  if (root.scrollWidth > root.clientWidth) bad.push('page ' + root.scrollWidth + ' > ' + root.clientWidth);
  document.querySelectorAll('table, .table-wrap, .callout, .stat, pre').forEach(function (el) {
    if (el.scrollWidth > el.clientWidth + 1) {
      var id = el.closest('section') ? el.closest('section').id : '?';
      bad.push(el.tagName.toLowerCase() + '.' + el.className + ' in #' + id + ' ' + el.scrollWidth + ' > ' + el.clientWidth);
    }
  });
  var out = document.createElement('pre');
  out.id = 'overflow-probe';
  out.textContent = JSON.stringify({overflow: bad, width: root.clientWidth});
  document.body.appendChild(out);
});
</script>"""


def chromium(profile: Path, *args: str) -> subprocess.CompletedProcess:
    done = subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args], capture_output=True, text=True,
                          timeout=180)
    assert done.returncode == 0, done.stderr[-2000:]
    return done


def _copy(report: Path, out: Path, extra: str) -> Path:
    html = re.sub(r'<meta http-equiv="Content-Security-Policy"[^>]*>', "", report.read_text(encoding="utf-8"))
    out.write_text(html.replace("</body>", extra + "\n</body>"), encoding="utf-8")
    return out


def overflow(report: Path, tmp_path: Path, width: int = 1280, height: int = 800) -> dict:
    """``{"overflow": [...], "width": ...}``: elements wider than their box at ``width`` pixels."""
    page = _copy(report, tmp_path / "probe.html", MEASURE)
    dom = chromium(tmp_path / "profile-probe", f"--window-size={width},{height}", "--virtual-time-budget=3000",
                   "--dump-dom", page.as_uri()).stdout
    found = re.search(r'<pre id="overflow-probe">(.*?)</pre>', dom, flags=re.S)
    assert found, "the probe did not run"
    return json.loads(found.group(1).replace("&quot;", '"').replace("&gt;", ">").replace("&lt;", "<")
                      .replace("&amp;", "&"))


def screenshot(report: Path, shot: Path, section: str | None = None, width: int = 1280, height: int = 800) -> Path:
    """The first screen of the page, or of ``section`` (the sections above it hidden), as a PNG."""
    extra = ""
    if section:
        extra = (f"<style>header, nav.toc, main > section:not(#{section}) {{ display: none !important; }}"
                 "</style>")
    page = _copy(report, shot.with_suffix(".html"), extra)
    chromium(shot.parent / f"profile-{shot.stem}", f"--window-size={width},{height}", f"--screenshot={shot}",
             page.as_uri())
    return shot
