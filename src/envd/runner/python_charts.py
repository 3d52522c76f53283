# kiln code-interpreter: the E2B chart object (result["chart"]) of a matplotlib figure, read from its
# public artists (docs/e2b-protocol.md section 5.3). python_runner.py compiles this source the first time a
# figure is shown, so a cell that never plots never pays for it, and calls figure_chart(fig) after the PNG
# is rendered (tick labels only exist once the figure has been drawn).
#
#   figure_chart(fig) -> dict or None (a figure without axes)
#   one axes:  {"type": line|scatter|bar|pie|box_and_whisker|unknown, "title", "elements", ...}
#   several:   {"type": "superchart", "title": <suptitle>, "elements": [<chart of each axes>]}
# An axes that cannot be read becomes {"type": "unknown", "title", "elements": []}; this never raises.
import math, re

import matplotlib.dates as _mdates
from matplotlib.category import UnitData as _CategoryUnits
from matplotlib.collections import PathCollection as _PathCollection
from matplotlib.ticker import FixedFormatter as _FixedFormatter
from matplotlib.patches import PathPatch as _PathPatch, Rectangle as _Rectangle, Wedge as _Wedge

_UNIT = re.compile(r"[(\[]\s*([^()\[\]]+?)\s*[)\]]\s*$")


def _num(value):
    value = float(value)
    return value if math.isfinite(value) else None


def _unit(label):
    match = _UNIT.search(label or "")
    return match.group(1) if match else None


def _is_dates(axis):
    return isinstance(axis.get_major_formatter(), (_mdates.DateFormatter, _mdates.AutoDateFormatter,
                                                   _mdates.ConciseDateFormatter))


def _scale(ax, which):
    axis = ax.xaxis if which == "x" else ax.yaxis
    if _is_dates(axis):
        return "datetime"
    if isinstance(axis.units, _CategoryUnits):
        return "categorical"
    return ax.get_xscale() if which == "x" else ax.get_yscale()


def _coordinate(value, dates):
    if dates and value is not None and math.isfinite(value):
        return _mdates.num2date(value).isoformat()
    return _num(value)


def _axes_2d(ax, chart_type):
    xlabel, ylabel = ax.get_xlabel(), ax.get_ylabel()
    return {"type": chart_type, "title": ax.get_title(), "x_label": xlabel, "y_label": ylabel,
            "x_unit": _unit(xlabel), "y_unit": _unit(ylabel), "elements": []}


def _point_chart(ax, chart_type, series):
    """series: [(label, [(x, y), ...]), ...] in axis coordinates (floats)."""
    chart = _axes_2d(ax, chart_type)
    dates = {}
    for which, ticks, labels in (("x", ax.get_xticks(), ax.get_xticklabels()),
                                 ("y", ax.get_yticks(), ax.get_yticklabels())):
        chart[which + "_scale"] = _scale(ax, which)
        dates[which] = chart[which + "_scale"] == "datetime"
        chart[which + "_ticks"] = [_coordinate(float(t), dates[which]) for t in ticks]
        chart[which + "_tick_labels"] = [label.get_text() for label in labels]
    for label, points in series:
        chart["elements"].append({"label": label, "points": [
            [_coordinate(float(x), dates["x"]), _coordinate(float(y), dates["y"])] for x, y in points]})
    return chart


def _tick_label_at(axis, position):
    """The name of the bar or box at `position`: on a categorical axis, or one labelled with set_xticks(...,
    labels) or boxplot(labels=...), the label of the nearest tick; on a numeric axis the number."""
    named = isinstance(axis.units, _CategoryUnits) or isinstance(axis.get_major_formatter(), _FixedFormatter)
    best = None
    for loc, label in zip(axis.get_majorticklocs(), axis.get_ticklabels()) if named else ():
        if label.get_text() and abs(loc - position) < 0.5 and (best is None or abs(loc - position) < best[0]):
            best = (abs(loc - position), label.get_text())
    return best[1] if best else "%g" % position


def _bar_chart(ax):
    chart = _axes_2d(ax, "bar")
    containers = [c for c in ax.containers if all(isinstance(p, _Rectangle) for p in c)]
    seen = set()
    for container in containers:
        group = container.get_label() or ""
        horizontal = getattr(container, "orientation", "vertical") == "horizontal"
        for bar in container:
            seen.add(id(bar))
            _add_bar(chart, ax, bar, "" if group.startswith("_") else group, horizontal)
    for bar in ax.patches:
        if id(bar) not in seen:
            _add_bar(chart, ax, bar, "", False)
    return chart


def _add_bar(chart, ax, bar, group, horizontal):
    if horizontal:
        label = _tick_label_at(ax.yaxis, bar.get_y() + bar.get_height() / 2)
        value = bar.get_width()
    else:
        label = _tick_label_at(ax.xaxis, bar.get_x() + bar.get_width() / 2)
        value = bar.get_height()
    chart["elements"].append({"label": label, "value": _num(value), "group": group})


def _pie_chart(ax):
    elements = [{"label": w.get_label(), "angle": _num(abs(w.theta2 - w.theta1)), "radius": _num(w.r)}
                for w in ax.patches]
    return {"type": "pie", "title": ax.get_title(), "elements": elements}


# ---- box plots, recognised by the geometry Axes.boxplot draws: per box a rectangle (a closed 5-point
# Line2D, or a PathPatch with patch_artist=True), a median segment across it, two whiskers along its centre
# line, two caps, and marker-only lines (fliers; a mean marker with showmeans) -----------------------------


def _rect(points):
    """(x0, x1, y0, y1) if the points trace an axis-aligned rectangle, else None."""
    xs, ys = sorted({p[0] for p in points}), sorted({p[1] for p in points})
    if len(points) in (5, 6) and len(xs) == 2 and len(ys) == 2 and points[0] == points[4]:
        return xs[0], xs[1], ys[0], ys[1]
    return None


def _box_parts(ax, flip):
    """Rectangles, 2-point segments and marker-only point lists, with the value axis as y."""
    def points(xy):
        return [(float(b), float(a)) if flip else (float(a), float(b)) for a, b in xy]
    rects, segments, markers = [], [], []
    for line in ax.get_lines():
        pts = points(line.get_xydata())
        if str(line.get_linestyle()).lower() in ("none", "", " "):
            markers.append(pts)
        elif len(pts) == 5 and _rect(pts):
            rects.append(_rect(pts))
        elif len(pts) == 2:
            segments.append(pts)
        else:
            return None
    for patch in ax.patches:
        pts = points(patch.get_path().vertices) if isinstance(patch, _PathPatch) else []
        if not _rect(pts):
            return None
        rects.append(_rect(pts))
    return sorted(rects), segments, markers


def _one_box(rect, segments, markers, used):
    """The five numbers and outliers of the box drawn as `rect`; adds the segments it owns to `used`."""
    x0, x1, q1, q3 = rect
    centre = (x0 + x1) / 2
    xtol, ytol = (x1 - x0) * 1e-6, max(abs(q1), abs(q3), 1e-300) * 1e-9
    low, high, median = q1, q3, (q1 + q3) / 2
    for i, ((xa, ya), (xb, yb)) in enumerate(segments):
        vertical = abs(xa - centre) <= xtol and abs(xb - centre) <= xtol
        horizontal = abs(ya - yb) <= ytol
        if vertical and abs(ya - q1) <= ytol and yb <= q1:  # the lower whisker
            low = yb
        elif vertical and abs(ya - q3) <= ytol and yb >= q3:  # the upper whisker
            high = yb
        elif horizontal and abs(min(xa, xb) - x0) <= xtol and abs(max(xa, xb) - x1) <= xtol \
                and q1 <= ya <= q3:  # the median, across the box
            median = ya
        elif not (horizontal and abs((xa + xb) / 2 - centre) <= xtol):  # else a cap
            continue
        used.add(i)
    outliers = [y for pts in markers for x, y in pts if abs(x - centre) <= xtol and (y < low or y > high)]
    return centre, {"min": _num(low), "first_quartile": _num(q1), "median": _num(median),
                    "third_quartile": _num(q3), "max": _num(high), "outliers": [_num(y) for y in outliers]}


def _box_chart(ax, flip):
    parts = _box_parts(ax, flip)
    if not parts or not parts[0]:
        return None
    rects, segments, markers = parts
    chart, used = _axes_2d(ax, "box_and_whisker"), set()
    for rect in rects:
        centre, element = _one_box(rect, segments, markers, used)
        label = _tick_label_at(ax.yaxis if flip else ax.xaxis, centre)
        chart["elements"].append(dict({"label": label}, **element))
    return chart if len(used) == len(segments) else None


# ---- chart type and entry point --------------------------------------------------------------------


def _axes_chart(ax):
    lines, collections, patches = list(ax.get_lines()), list(ax.collections), list(ax.patches)
    if ax.images or ax.tables or not (lines or collections or patches):
        return None
    if not collections:
        box = _box_chart(ax, False) or _box_chart(ax, True)
        if box:
            return box
    if lines and not collections and not patches:
        return _point_chart(ax, "line", [(l.get_label(), l.get_xydata()) for l in lines])
    if collections and not lines and not patches and all(isinstance(c, _PathCollection) for c in collections):
        return _point_chart(ax, "scatter", [(c.get_label(), c.get_offsets()) for c in collections])
    if patches and not lines and not collections and all(isinstance(p, _Rectangle) for p in patches):
        return _bar_chart(ax)
    if patches and not lines and not collections and all(isinstance(p, _Wedge) for p in patches):
        return _pie_chart(ax)
    return None


def _chart_or_unknown(ax):
    try:
        chart = _axes_chart(ax)
    except Exception:
        chart = None
    if chart is None:
        try:
            title = ax.get_title()
        except Exception:
            title = ""
        chart = {"type": "unknown", "title": title, "elements": []}
    return chart


def figure_chart(fig):
    axes = fig.get_axes()
    if not axes:
        return None
    if len(axes) == 1:
        return _chart_or_unknown(axes[0])
    get_suptitle = getattr(fig, "get_suptitle", None)  # matplotlib >= 3.8; before, the private _suptitle
    suptitle = get_suptitle() if get_suptitle else getattr(getattr(fig, "_suptitle", None), "get_text", str)()
    return {"type": "superchart", "title": suptitle,
            "elements": [_chart_or_unknown(ax) for ax in axes]}
