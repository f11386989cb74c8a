"""Open a report in headless Chromium and measure every figure as drawn (shared by the report
tests).

A copy of the page gets a script that runs once the figures are drawn and writes what it
measured into the DOM as JSON; ``chromium --dump-dom`` prints the DOM and its console lines
(``--enable-logging=stderr``), as in the first browser test of the arithmetic report. Per
figure: its size, each axis' pixel length, the data values an axis range fails to cover,
overlapping text (annotations such as subplot titles against tick labels, axis titles and each
other) and, for phase lines, the pixel x of each line and of its label.
"""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

CHECK = r"""
<script>
(function () {
  function rel(gd, el) {
    const g = gd.getBoundingClientRect(), r = el.getBoundingClientRect();
    return {left: r.left - g.left, right: r.right - g.left, top: r.top - g.top,
            bottom: r.bottom - g.top, width: r.width, height: r.height,
            text: (el.textContent || '').trim().slice(0, 60)};
  }
  function boxes(gd, sel) {
    return Array.from(gd.querySelectorAll(sel)).map(el => rel(gd, el))
      .filter(b => b.width > 0 && b.height > 0 && b.text);
  }
  function overlap(a, b) {
    return Math.min(a.right, b.right) - Math.max(a.left, b.left) > 1 &&
           Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top) > 1;
  }
  function axis(fl, id) { return id ? fl[id.replace(/^x/, 'xaxis').replace(/^y/, 'yaxis')] : null; }
  function values(t, letter) {
    const other = letter === 'x' ? 'y' : 'x';
    if (t.type === 'histogram' && t.orientation !== (letter === 'x' ? 'h' : 'v')) {
      return t[letter] ? Array.from(t[letter]) : [];
    }
    if (t.type === 'histogram') return [];
    if (t[letter] && t[letter].length) return Array.from(t[letter]);
    if (t.type === 'heatmap' && t.z) {
      const n = letter === 'y' ? t.z.length : Math.max(...t.z.map(r => r.length));
      const start = t[letter + '0'] || 0, step = t['d' + letter] || 1;
      return Array.from({length: n}, (_, i) => start + i * step);
    }
    if (t.type === 'scatter' && t[other]) return t[other].map((_, i) => i);
    return [];
  }
  function uncovered(t, letter, ax) {
    if (!ax || !ax.range || ax.type === 'date') return [];
    const ends = ax.range.map(r => ax.r2c(r)).sort((a, b) => a - b);
    const tol = 1e-6 * Math.max(1e-12, Math.abs(ends[1] - ends[0]));
    const bad = [];
    for (const v of values(t, letter)) {
      if (v === null || v === undefined || v === '') continue;
      if (typeof v === 'number' && !isFinite(v)) continue;
      const c = ax.d2c(v);
      if (c === undefined || c === null || !isFinite(c)) continue;
      if (ax.type === 'log' && c <= 0) continue;
      if (c < ends[0] - tol || c > ends[1] + tol) bad.push(String(v));
    }
    return bad.slice(0, 5);
  }
  function phaseLines(gd, fl) {
    const out = [];
    const notes = Array.from(gd.querySelectorAll('g.annotation'));
    gd._fullData.forEach(t => {
      if (!(t.legendgroup || '').startsWith('phase-')) return;
      const ax = axis(fl, t.xaxis), px = ax._offset + ax.c2p(ax.d2c(t.x[0]));
      const label = (t.name || '').split(' (')[0];
      notes.filter(n => (n.textContent || '').trim() === label).forEach(n => {
        const b = rel(gd, n);
        if (b.left <= px + 40 && b.right >= px - 40) {
          out.push({label: label, line: px, left: b.left, right: b.right});
        }
      });
    });
    return out;
  }
  function measure(gd) {
    const g = gd.getBoundingClientRect(), fl = gd._fullLayout;
    const fig = {id: gd.id, width: g.width, height: g.height, svgs: 0, axes: {},
                 uncovered: [], overlaps: [], phases: []};
    if (!fl) return fig;
    const t = fl.title && fl.title.text;
    fig.title = t && !t.startsWith('Click to enter') ? t : null;
    fig.svgs = gd.querySelectorAll('svg.main-svg').length;
    Object.keys(fl).filter(k => /^[xy]axis\d*$/.test(k))
      .forEach(k => { fig.axes[k] = {length: fl[k]._length, offset: fl[k]._offset,
                                     range: fl[k].range, type: fl[k].type}; });
    gd._fullData.forEach((t, i) => {
      if (t.visible !== true) return;
      ['x', 'y'].forEach(letter => {
        const bad = uncovered(t, letter, axis(fl, t[letter + 'axis']));
        if (bad.length) fig.uncovered.push({trace: i, name: t.name, axis: t[letter + 'axis'],
                                            values: bad});
      });
    });
    const notes = boxes(gd, 'g.annotation');
    const others = boxes(gd, '.xtick text, .ytick text, .g-xtitle text, .g-ytitle text, ' +
                             '.xtitle, .ytitle, .g-gtitle text');
    notes.forEach((a, i) => {
      others.concat(notes.slice(i + 1)).forEach(b => {
        if (overlap(a, b)) fig.overlaps.push([a.text, b.text]);
      });
    });
    fig.phases = phaseLines(gd, fl);
    return fig;
  }
  function run() {
    const figs = Array.from(document.querySelectorAll('.plotly-graph-div')).map(measure);
    const pre = document.createElement('pre');
    pre.id = 'algolens-check';
    pre.textContent = JSON.stringify(figs);
    document.body.appendChild(pre);
  }
  window.addEventListener('load', () => setTimeout(run, 1500));
})();
</script>
"""


@dataclass
class BrowserReport:
    """What Chromium saw: console errors, the number of drawn figures, and per figure what
    :data:`CHECK` measured."""

    errors: list[str]
    rendered: int
    figures: list[dict[str, Any]] = field(default_factory=list)

    def problems(self) -> list[str]:
        """Every figure of zero size (or an axis of zero length), every data value outside
        its axis range, and every overlap of an annotation with other text."""
        out = []
        for fig in self.figures:
            name = fig.get("title") or fig["id"]
            if fig["width"] <= 0 or fig["height"] <= 0 or fig["svgs"] == 0:
                out.append(f"{name}: not drawn or zero size ({fig['width']}x{fig['height']})")
            out += [f"{name}: {k} has length {a['length']}" for k, a in fig["axes"].items()
                    if not a["length"] or a["length"] <= 0]  # fmt: skip
            out += [f"{name}: range of {u['axis']} misses {u['values']}" for u in fig["uncovered"]]
            out += [f"{name}: {a!r} overlaps {b!r}" for a, b in fig["overlaps"]]
        return out


def figures_in(html: str) -> list[dict[str, Any]]:
    """The ``{"data": ..., "layout": ...}`` of every figure inlined in a report's HTML."""
    decoder, out = json.JSONDecoder(), []
    for m in re.finditer(r'Plotly\.newPlot\(\s*"[^"]+",\s*', html):
        data, end = decoder.raw_decode(html, m.end())
        start = re.compile(r",\s*").match(html, end)
        assert start is not None
        layout, _ = decoder.raw_decode(html, start.end())
        out.append({"data": data, "layout": layout})
    return out


def open_in_chromium(browser: str, html: Path, tmp: Path, width: int = 1300) -> BrowserReport:
    """Open a copy of ``html`` (with :data:`CHECK` added) in headless Chromium."""
    page = tmp / "checked.html"
    text = html.read_text()
    page.write_text(text.replace("</body>", CHECK + "</body>"))
    proc = subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--no-first-run",
            f"--user-data-dir={tmp / 'profile'}",
            f"--window-size={width},1000",
            "--enable-logging=stderr",
            "--v=0",
            "--virtual-time-budget=30000",
            "--dump-dom",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    console = [line for line in proc.stderr.splitlines() if "CONSOLE" in line]
    errors = [line for line in console if re.search(r"Uncaught|Error", line)]
    found = re.search(r'<pre id="algolens-check">(.*?)</pre>', proc.stdout, re.S)
    assert found, "the check script did not run"
    figures = json.loads(found.group(1).replace("&lt;", "<").replace("&gt;", ">")
                         .replace("&quot;", '"').replace("&amp;", "&"))  # fmt: skip
    rendered = len(re.findall(r'<svg class="main-svg"', proc.stdout))
    return BrowserReport(errors, rendered, figures)


def check_report(html: Path, tmp: Path) -> BrowserReport:
    """Open ``html`` in headless Chromium (skip without it) and assert what every report must
    show: no console error, every figure drawn, and no problem :data:`CHECK` measured."""
    from algolens.report.figures_export import find_chromium

    browser = find_chromium()
    if browser is None:
        pytest.skip("chromium is not installed")
    seen = open_in_chromium(browser, html, tmp)
    assert not seen.errors, seen.errors
    n_figs = html.read_text().count('class="plotly-graph-div"')
    # plotly draws each figure into an svg.main-svg; every figure div must have rendered
    assert len(seen.figures) == n_figs and seen.rendered >= n_figs, (seen.rendered, n_figs)
    assert not seen.problems(), seen.problems()
    return seen
