"""A product's stock chart as a PNG, made to be read on a phone: big type, few lines,
everything labelled. Pure and CPU-bound, and matplotlib holds the GIL while it
draws: the bot calls it in a child process (`bot.slack.delivery.charts.ChartDrawer`).

matplotlib is imported on first use (it takes a second to load), and only its
object-oriented API with the Agg canvas is used: no pyplot, no window, no global
state, so two threads may draw at once.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bot.views.chart_model import ProductChart

WIDTH, HEIGHT, DPI = 9.0, 7.5, 100  # 900 x 750 pixels
FONT = 17
ACTIVE, OTHERS = "#1f6fd1", ("#7a7a7a", "#d98c1f", "#4c9a2a")
FORECAST, SALES, NOW = "#d62728", "#5b8f5b", "#444444"
# The forecast is drawn at most half the chart's span ahead; a later stockout is said
# in words.
AHEAD = 0.5


def _when(moment: datetime, now: datetime) -> str:
    """How far off the stockout is, in plain words."""
    seconds = (moment - now).total_seconds()
    if seconds <= 0:
        return "out of stock now"
    if seconds < 3600:
        return f"out in about {max(1, round(seconds / 60))} min"
    if seconds < 2 * 86400:
        return f"out in about {round(seconds / 3600)} h"
    return f"out in about {round(seconds / 86400)} days ({moment:%b %d})"


def _forecast(axes: Any, chart: ProductChart) -> datetime:
    """The dashed line from the stock now down to the predicted stockout; returns the
    right edge of the chart."""
    right = chart.now + (chart.now - chart.start) * 0.04
    if not chart.has_forecast:
        axes.text(
            0.98, 0.95, "no forecast yet", transform=axes.transAxes, ha="right", va="top",
            fontsize=FONT, color=NOW,
        )  # fmt: skip
        return right
    assert chart.forecast_stock is not None and chart.predicted_stockout is not None
    stockout = chart.predicted_stockout
    end = min(stockout, chart.now + (chart.now - chart.start) * AHEAD)
    right = max(right, end + (end - chart.start) * 0.04)
    span = (stockout - chart.now).total_seconds()
    left_at_end = (
        chart.forecast_stock * (1 - (end - chart.now).total_seconds() / span) if span > 0 else 0.0
    )
    axes.plot(
        [chart.now, end], [chart.forecast_stock, left_at_end],
        color=FORECAST, linestyle="--", linewidth=3.5, label="forecast",
    )  # fmt: skip
    if end == stockout:
        axes.plot([stockout], [0], marker="X", markersize=16, color=FORECAST, clip_on=False)
    words = _when(stockout, chart.now)
    if chart.little_data:
        words += "\n(little data)"
    axes.text(
        0.98, 0.95, words, transform=axes.transAxes, ha="right", va="top",
        fontsize=FONT + 1, color=FORECAST, fontweight="bold",
        bbox={"facecolor": "white", "edgecolor": FORECAST, "boxstyle": "round,pad=0.3"},
    )  # fmt: skip
    return right


def _time_format(chart: ProductChart) -> str:
    """Dates for weeks, times of day for hours, seconds for minutes (all UTC)."""
    span = chart.now - chart.start
    if span >= timedelta(days=2):
        return "%b %d"
    return "%H:%M" if span >= timedelta(minutes=10) else "%H:%M:%S"


def title(chart: ProductChart) -> str:
    return f"{chart.sku}: stock at each supplier"


def chart_png(chart: ProductChart) -> bytes:
    """The chart, drawn: stock at each supplier (top), units sold a day (bottom)."""
    from io import BytesIO

    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.dates import AutoDateLocator, DateFormatter
    from matplotlib.figure import Figure

    # Fixed margins: a layout engine would draw the figure twice to measure it.
    figure = Figure(figsize=(WIDTH, HEIGHT), dpi=DPI)
    figure.subplots_adjust(left=0.11, right=0.97, top=0.8, bottom=0.08, hspace=0.12)
    FigureCanvasAgg(figure)
    stock_axes, sales_axes = figure.subplots(
        2, 1, sharex=True, gridspec_kw={"height_ratios": [2.2, 1]}
    )
    figure.suptitle(title(chart), fontsize=FONT + 5, fontweight="bold", y=0.985)

    others = iter(OTHERS)
    for line in chart.stock:
        color = ACTIVE if line.active else next(others, "#999999")
        label = f"{line.supplier} (active)" if line.active else line.supplier
        values = [float("nan") if q is None else q for q in line.quantities]
        stock_axes.step(
            line.times, values, where="post", color=color,
            linewidth=4 if line.active else 2.5, label=label,
        )  # fmt: skip
    right = _forecast(stock_axes, chart)
    stock_axes.axvline(chart.now, color=NOW, linewidth=1.5, linestyle=":")
    stock_axes.set_ylabel("units in stock", fontsize=FONT)
    stock_axes.set_ylim(bottom=0)
    # Above the plot, under the title: never over a line.
    stock_axes.legend(
        fontsize=FONT - 2, loc="lower left", bbox_to_anchor=(0, 1.0), ncol=3, frameon=False
    )
    stock_axes.annotate(
        "now", (chart.now, 0), xytext=(-6, 6), textcoords="offset points", ha="right",
        fontsize=FONT - 3, color=NOW,
    )  # fmt: skip

    days = [datetime.combine(day, time(), tzinfo=chart.now.tzinfo) for day in chart.sales_days]
    sales_axes.bar(days, chart.sales, width=0.8, align="edge", color=SALES)
    sales_axes.set_ylabel("sold a day", fontsize=FONT)
    sales_axes.set_ylim(bottom=0, top=max(max(chart.sales, default=0) * 1.2, 1))
    sales_axes.axvline(chart.now, color=NOW, linewidth=1.5, linestyle=":")
    sales_axes.set_xlim(chart.start, right)
    locator = AutoDateLocator(minticks=3, maxticks=6)
    sales_axes.xaxis.set_major_locator(locator)
    sales_axes.xaxis.set_major_formatter(DateFormatter(_time_format(chart)))
    if not any(units for day, units in zip(days, chart.sales, strict=True) if day >= chart.start):
        sales_axes.text(
            0.5, 0.5, "no sales in this time", transform=sales_axes.transAxes, ha="center",
            va="center", fontsize=FONT, color=NOW,
        )  # fmt: skip
    for axes in (stock_axes, sales_axes):
        axes.tick_params(labelsize=FONT - 1)
        axes.grid(axis="y", alpha=0.3)
        axes.spines[["top", "right"]].set_visible(False)

    out = BytesIO()
    figure.savefig(out, format="png")
    return out.getvalue()
