"""The report's figures as inline SVG strings: no plotting library, no network, no script.

Five small chart kinds (interval bars, paired bars, a reliability diagram, two overlaid
histograms, a heat map) are simpler written directly than configured through a plotting
library, and SVG text is escaped like any other HTML, so a subset named `<script>` stays
text. Every figure has a <title> (screen readers, tooltips) and a data-figure attribute
the browser test looks for.
"""

from __future__ import annotations

import html
import math

BLUE, ORANGE, GREY, INK = "#2563eb", "#d97706", "#9ca3af", "#111827"
WIDTH = 640
LABEL_W = 190
BAR_H = 18
LABEL_CHARS = 28


def esc(value) -> str:
    return html.escape(str(value), quote=True)


def short(label: str, n: int = LABEL_CHARS) -> str:
    return label if len(label) <= n else label[: n - 1] + "\u2026"


def _svg(kind: str, title: str, width: float, height: float, body: list[str]) -> str:
    return (f'<svg class="figure" data-figure="{esc(kind)}" role="img" viewBox="0 0 {width:.0f} {height:.0f}" '
            f'width="{width:.0f}" height="{height:.0f}" xmlns="http://www.w3.org/2000/svg">'
            f"<title>{esc(title)}</title>" + "".join(body) + "</svg>")


def _text(x, y, text, anchor="start", size=12, color=INK, extra="") -> str:
    return (f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" font-size="{size}" fill="{color}"{extra}>'
            f"{esc(text)}</text>")


def _axis(x0: float, x1: float, y: float, ticks=(0.0, 0.25, 0.5, 0.75, 1.0), fmt=lambda t: f"{100 * t:.0f}%"):
    out = [f'<line x1="{x0}" y1="{y}" x2="{x1}" y2="{y}" stroke="{GREY}"/>']
    for t in ticks:
        x = x0 + t * (x1 - x0)
        out.append(f'<line x1="{x:.1f}" y1="{y}" x2="{x:.1f}" y2="{y + 4}" stroke="{GREY}"/>')
        out.append(_text(x, y + 16, fmt(t), "middle", 10))
    return out


def interval_bars(title: str, items: list[tuple[str, float | None, float | None, float | None]]) -> str:
    """Horizontal bars in [0, 1] with 95% interval whiskers; a dashed line at chance (0.5)."""
    x0, x1 = LABEL_W, WIDTH - 70
    height = 30 + len(items) * (BAR_H + 8) + 24
    body = [f'<line x1="{x0 + 0.5 * (x1 - x0):.1f}" y1="20" x2="{x0 + 0.5 * (x1 - x0):.1f}" '
            f'y2="{height - 24}" stroke="{GREY}" stroke-dasharray="4 3"/>']
    for n, (label, value, low, high) in enumerate(items):
        y = 24 + n * (BAR_H + 8)
        body.append(_text(x0 - 8, y + BAR_H - 4, short(label), "end"))
        if value is None or math.isnan(value):
            body.append(_text(x0 + 4, y + BAR_H - 4, "not evaluated", size=11, color=GREY))
            continue
        body.append(f'<rect class="bar" x="{x0}" y="{y}" width="{value * (x1 - x0):.1f}" height="{BAR_H}" '
                    f'fill="{BLUE}" opacity="0.8"><title>{esc(label)}: {100 * value:.1f}%</title></rect>')
        if low is not None and high is not None:
            ya = y + BAR_H / 2
            body.append(f'<line x1="{x0 + low * (x1 - x0):.1f}" y1="{ya}" x2="{x0 + high * (x1 - x0):.1f}" '
                        f'y2="{ya}" stroke="{INK}" stroke-width="1.5"/>')
        body.append(_text(x1 + 6, y + BAR_H - 4, f"{100 * value:.1f}%", size=11))
    body += _axis(x0, x1, height - 22)
    return _svg("scores", title, WIDTH, height, body)


def paired_bars(title: str, items: list[tuple[str, float | None, float | None, str]],
                legend: tuple[str, str]) -> str:
    """Two bars per row (blue: first value, orange: second), each in [0, 1], a note at the end."""
    x0, x1 = LABEL_W, WIDTH - 150
    row_h = 2 * BAR_H + 10
    height = 40 + len(items) * row_h + 24
    body = [f'<rect x="{x0}" y="6" width="10" height="10" fill="{BLUE}"/>', _text(x0 + 14, 15, legend[0], size=11),
            f'<rect x="{x0 + 200}" y="6" width="10" height="10" fill="{ORANGE}"/>',
            _text(x0 + 214, 15, legend[1], size=11)]
    for n, (label, first, second, note) in enumerate(items):
        y = 28 + n * row_h
        body.append(_text(x0 - 8, y + BAR_H + 4, short(label), "end"))
        for k, (value, color) in enumerate(((first, BLUE), (second, ORANGE))):
            yy = y + k * BAR_H
            if value is None:
                body.append(_text(x0 + 4, yy + BAR_H - 5, "none of this kind", size=10, color=GREY))
                continue
            body.append(f'<rect class="bar" x="{x0}" y="{yy}" width="{value * (x1 - x0):.1f}" height="{BAR_H - 2}" '
                        f'fill="{color}"><title>{esc(label)}: {legend[k]} {100 * value:.1f}%</title></rect>')
            body.append(_text(x0 + value * (x1 - x0) + 4, yy + BAR_H - 5, f"{100 * value:.0f}%", size=10))
        body.append(_text(x1 + 40, y + BAR_H + 4, note, size=11))
    body += _axis(x0, x1, height - 22)
    return _svg("length-bias", title, WIDTH, height, body)


def reliability(title: str, bins: list[dict]) -> str:
    """Accuracy against mean confidence per equal-mass bin; the diagonal is perfect calibration.
    Confidence is top-label (0.5 to 1), so both axes run from 0.5 (or lower accuracy) to 1."""
    size, pad = 300, 44
    lo = min([0.5] + [b["accuracy"] for b in bins if b["accuracy"] is not None])
    lo = math.floor(lo * 10) / 10

    def px(v):
        return pad + (v - lo) / (1 - lo) * size

    def py(v):
        return pad + size - (v - lo) / (1 - lo) * size

    body = [f'<rect x="{pad}" y="{pad}" width="{size}" height="{size}" fill="none" stroke="{GREY}"/>',
            f'<line x1="{px(lo):.1f}" y1="{py(lo):.1f}" x2="{px(1):.1f}" y2="{py(1):.1f}" stroke="{GREY}" '
            'stroke-dasharray="4 3"/>']
    ticks = [lo + k * (1 - lo) / 4 for k in range(5)]
    for t in ticks:
        body.append(_text(px(t), pad + size + 16, f"{t:.2f}", "middle", 10))
        body.append(_text(pad - 6, py(t) + 4, f"{t:.2f}", "end", 10))
    body.append(_text(pad + size / 2, pad + size + 34, "confidence max(p, 1-p)", "middle", 11))
    body.append(_text(14, pad + size / 2, "accuracy", "middle", 11,
                      extra=f' transform="rotate(-90 14 {pad + size / 2:.0f})"'))
    points = [(px(b["confidence"]), py(b["accuracy"])) for b in bins]
    if len(points) > 1:
        body.append('<polyline fill="none" stroke="' + BLUE + '" stroke-width="1.5" points="'
                    + " ".join(f"{x:.1f},{y:.1f}" for x, y in points) + '"/>')
    for (x, y), b in zip(points, bins):
        body.append(f'<circle class="point" cx="{x:.1f}" cy="{y:.1f}" r="4" fill="{BLUE}"><title>n={b["n"]}: '
                    f'confidence {b["confidence"]:.3f}, accuracy {b["accuracy"]:.3f}</title></circle>')
    return _svg("reliability", title, size + pad + 20, size + pad + 44, body)


def histograms(title: str, chosen: list[float], rejected: list[float], bins: int = 30) -> str:
    """Chosen (blue) and rejected (orange) rewards over the same bins, as outlined steps."""
    values = chosen + rejected
    width, height, pad = WIDTH, 220, 40
    lo, hi = min(values), max(values)
    if hi == lo:
        hi = lo + 1.0
    step = (hi - lo) / bins

    def counts(xs):
        out = [0] * bins
        for x in xs:
            out[min(bins - 1, int((x - lo) / step))] += 1
        return out

    c_counts, r_counts = counts(chosen), counts(rejected)
    top = max(c_counts + r_counts) or 1
    plot_w, plot_h = width - 2 * pad, height - 2 * pad

    def bars(cs, color, cls):
        out = []
        for k, c in enumerate(cs):
            if c:
                h = c / top * plot_h
                out.append(f'<rect class="{cls}" x="{pad + k * plot_w / bins:.1f}" y="{pad + plot_h - h:.1f}" '
                           f'width="{plot_w / bins:.1f}" height="{h:.1f}" fill="{color}" fill-opacity="0.45" '
                           f'stroke="{color}"/>')
        return out

    body = bars(c_counts, BLUE, "chosen") + bars(r_counts, ORANGE, "rejected")
    body.append(f'<line x1="{pad}" y1="{pad + plot_h}" x2="{pad + plot_w}" y2="{pad + plot_h}" stroke="{GREY}"/>')
    for k in range(5):
        v = lo + k * (hi - lo) / 4
        body.append(_text(pad + k * plot_w / 4, pad + plot_h + 16, f"{v:.3g}", "middle", 10))
    body += [f'<rect x="{pad}" y="10" width="10" height="10" fill="{BLUE}" fill-opacity="0.45"/>',
             _text(pad + 14, 19, f"chosen (n={len(chosen)})", size=11),
             f'<rect x="{pad + 160}" y="10" width="10" height="10" fill="{ORANGE}" fill-opacity="0.45"/>',
             _text(pad + 174, 19, f"rejected (n={len(rejected)})", size=11),
             _text(pad + plot_w, 19, f"tallest bin: {top}", "end", 10, GREY)]
    return _svg("histogram", title, width, height, body)


def heat_map(title: str, matrix: list[list[float]], rows: tuple[str, ...], cols: tuple[str, ...]) -> str:
    """Cells shaded from white (0) to blue (1) with their value written in; rows: chosen style,
    columns: rejected style (RM-Bench: upper triangle = hard, diagonal = normal, lower = easy)."""
    cell, left, topm = 64, 150, 70
    body = [_text(left + len(cols) * cell / 2, 14, "rejected answer's style", "middle", 11)]
    for j, name in enumerate(cols):
        body.append(_text(left + j * cell + cell / 2, topm - 8, short(name, 12), "middle", 10))
    for i, name in enumerate(rows):
        body.append(_text(left - 8, topm + i * cell + cell / 2 + 4, short(name, 20), "end", 11))
        for j, value in enumerate(matrix[i]):
            v = 0.0 if value is None else max(0.0, min(1.0, value))
            shade = f"rgb({int(255 - 218 * v)},{int(255 - 156 * v)},{int(255 - 20 * v)})"
            body.append(f'<rect class="cell" x="{left + j * cell}" y="{topm + i * cell}" width="{cell}" '
                        f'height="{cell}" fill="{shade}" stroke="#fff"/>')
            text = "-" if value is None else f"{100 * value:.0f}%"
            body.append(_text(left + j * cell + cell / 2, topm + i * cell + cell / 2 + 4, text, "middle", 12,
                              "#fff" if v > 0.6 else INK))
    body.append(_text(12, topm - 8, "chosen style", size=11))
    return _svg("heat-map", title, left + len(cols) * cell + 20, topm + len(rows) * cell + 10, body)
