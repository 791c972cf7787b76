# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The window export's report.html in a real browser: Debian's chromium, headless.

On generated evidence (tests/unit/window_data.py: edge2 PKI-02 fails on 2026-11-02):

* ``--dump-dom``: the DOM the browser built has the failure in the PKI-02 heatmap on edge2's
  row, in the 2026-11-02 column;
* ``--screenshot``: the rendered page shows it too: exactly one heatmap cell in the fail
  colour with pass-coloured cells around it, third of four host rows (aggregator, edge1,
  edge2, monitor) and second of three day columns. The screenshot is kept as a CI artefact in
  ``.cache/artifacts/report-heatmap.png``;
* no network request: chromium runs with every host name mapped to nothing
  (``--host-resolver-rules``) and logs its network activity (``--log-net-log``); no request
  initiated by the page (the browser's own background requests have initiator
  ``not an origin``) for anything but the file itself. A control page with one remote image
  shows the log catches such a request.

Skipped, with the reason, when chromium is not installed (soc2audit/prereqs.py lists it in the
``test`` scope, so ``doctor --install`` and CI install it).
"""

from __future__ import annotations

import json
import re
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import pytest
from window_data import DAYS, build

from soc2audit import cli
from soc2audit.exitcodes import EXIT_OK

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / ".cache" / "artifacts"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FAIL = (0xD7, 0x30, 0x27)  # .r-fail in soc2audit/auditor_report.py
PASS = (0x1A, 0x98, 0x50)  # .r-pass

pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="chromium is not installed (apt-get install chromium, or "
    "python -m soc2audit.lab doctor --scope test --install)",
)


def browse(page: Path, work: Path, *mode: str) -> tuple[str, list[dict[str, str]]]:
    """Run headless chromium on ``page``; its stdout and the URL requests of its net log."""
    log = work / "net.json"
    argv = [
        str(CHROMIUM),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--hide-scrollbars",
        "--disable-background-networking",
        "--disable-extensions",
        f"--user-data-dir={work / 'profile'}",
        "--host-resolver-rules=MAP * ~NOTFOUND",
        f"--log-net-log={log}",
        *mode,
        page.as_uri(),
    ]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    data = json.loads(log.read_text())
    names = {v: k for k, v in data["constants"]["logEventTypes"].items()}
    requests = [
        {"url": str(e["params"].get("url")), "initiator": str(e["params"].get("initiator"))}
        for e in data["events"]
        if names.get(e["type"]) == "URL_REQUEST_START_JOB" and e.get("params", {}).get("url")
    ]
    return proc.stdout, requests


def page_requests(requests: list[dict[str, str]]) -> list[str]:
    """Requests the page made (not the browser's own), other than the page file itself."""
    return [
        r["url"]
        for r in requests
        if r["initiator"] != "not an origin" and not r["url"].startswith(("file:", "data:"))
    ]


def decode_png(data: bytes) -> tuple[int, int, list[list[tuple[int, int, int]]]]:
    """Width, height and RGB pixels of an 8-bit RGB/RGBA, non-interlaced PNG."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, chunks, header = 8, [], b""
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        body = data[pos + 8 : pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            chunks.append(body)
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", header)
    assert depth == 8 and colour in (2, 6) and interlace == 0
    bpp = 3 if colour == 2 else 4
    raw = zlib.decompress(b"".join(chunks))
    stride = width * bpp
    prev = bytearray(stride)
    pixels = []
    for y in range(height):
        start = y * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
        if kind == 1:
            for i in range(bpp, stride):
                line[i] = (line[i] + line[i - bpp]) & 255
        elif kind == 2:
            line = bytearray((a + b) & 255 for a, b in zip(line, prev, strict=True))
        elif kind == 3:
            for i in range(stride):
                left = line[i - bpp] if i >= bpp else 0
                line[i] = (line[i] + (left + prev[i]) // 2) & 255
        elif kind == 4:
            for i in range(stride):
                a = line[i - bpp] if i >= bpp else 0
                b = prev[i]
                c = prev[i - bpp] if i >= bpp else 0
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        pixels.append([tuple(line[x * bpp : x * bpp + 3]) for x in range(width)])
        prev = line
    return width, height, pixels


def bands(colours: list[tuple[int, int, int]]) -> list[tuple[int, int, int]]:
    """The heatmap cells along a line of pixels from a cell outwards: consecutive runs of cell
    colours, separated by at most 4 pixels of border; stops at anything else."""
    out: list[tuple[int, int, int]] = []
    gap = 0
    for colour in colours:
        if colour in (FAIL, PASS):
            if not out or out[-1] != colour or gap:
                out.append(colour)
            gap = 0
        else:
            gap += 1
            if gap > 4:
                break
    return out


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    trail = build(tmp_path_factory.mktemp("browser"))
    out = tmp_path_factory.mktemp("pkg") / "pkg"
    code = cli.main(
        ["report", "--evidence-dir", str(trail.evidence), "--catalog", str(trail.catalog_path),
         "--waivers", str(trail.waivers_path), "--key", str(trail.key),
         "--from", str(DAYS[0]), "--to", str(DAYS[-1]), "--out", str(out),
         "--now", "2026-11-04T00:20:00Z"]
    )  # fmt: skip
    assert code == EXIT_OK
    return out


def test_the_dom_shows_the_failure_on_its_host_and_day(package: Path, tmp_path: Path) -> None:
    dom, requests = browse(package / "report.html", tmp_path, "--dump-dom")
    table = dom[dom.index('data-check="PKI-02"') :].split("</table>")[0]
    days = re.findall(r'<th class="d">([0-9-]+)</th>', table)
    assert days == [str(d) for d in DAYS]
    row = re.search(r'<tr data-host="edge2">(.*?)</tr>', table, re.S)
    assert row is not None
    cells = re.findall(r'<td class="([^"]+)"', row.group(1))
    assert cells[days.index("2026-11-02")] == "r-fail"
    assert cells.count("r-fail") == 1
    assert page_requests(requests) == []


def test_the_rendered_heatmap_shows_it_and_nothing_is_fetched(
    package: Path, tmp_path: Path
) -> None:
    shot = tmp_path / "shot.png"
    _, requests = browse(
        package / "report.html", tmp_path, "--window-size=1200,1500", f"--screenshot={shot}"
    )
    assert page_requests(requests) == []
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(shot, ARTIFACTS / "report-heatmap.png")
    width, height, pixels = decode_png(shot.read_bytes())
    # Heatmap cells in the fail colour: pass cells left and right (the legend's swatch has text).
    found = []
    for y in range(height):
        row = pixels[y]
        for x in range(1, width - 1):
            if row[x] == FAIL and row[x - 1] != FAIL:
                left = bands(row[x - 1 :: -1])
                end = x
                while end < width and row[end] == FAIL:
                    end += 1
                right = bands(row[end:])
                if left[:1] == [PASS] and right[:1] == [PASS]:
                    found.append((x, y))
    cells = {x for x, _ in found}
    assert len(cells) == 1, f"expected one failing heatmap cell in the screenshot, got {found[:5]}"
    x, y = found[len(found) // 2]
    row = pixels[y]
    end = x
    while row[end] == FAIL:
        end += 1
    # Second of three day columns: one cell to the left, one to the right.
    assert bands(row[x - 1 :: -1]) == [PASS]
    assert bands(row[end:]) == [PASS]
    # Third of four host rows (aggregator, edge1, edge2, monitor).
    column = [pixels[j][x + 2] for j in range(height)]
    top = min(j for _, j in found)
    bottom = max(j for _, j in found) + 1
    assert bands(column[top - 1 :: -1]) == [PASS, PASS]
    assert bands(column[bottom:]) == [PASS]


def test_the_request_check_catches_a_page_that_fetches(tmp_path: Path) -> None:
    control = tmp_path / "control.html"
    control.write_text('<!DOCTYPE html><img src="http://fetch-probe.invalid/x.png"><p>x</p>')
    _, requests = browse(control, tmp_path, "--dump-dom")
    assert page_requests(requests) == ["http://fetch-probe.invalid/x.png"]
