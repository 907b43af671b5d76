"""The dashboard: pictures of the last weeks for the viewer's queues, from the store's
day-by-day figures (ticket_days): new tickets per day by queue, time to first answer and the
share of new mail that broke each etiquette rule, week by week."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import Response

from ...store.records import DayFigures
from ..access import Viewer
from ..charts import Series, lines, stacked_bars
from ..desk import Desk, language_of
from ..i18n import flag_label, translator

DAYS = 30
WEEKS = 12
FLAGS = ("vague_subject", "multi_issue", "private_address", "missing_computer_name")
BUCKETS = ("answered_1h", "answered_4h", "answered_1d", "answered_3d", "answered_later")
BUCKET_KEYS = ("within_1h", "within_4h", "within_1d", "within_3d", "later")


def _day_label(day: int) -> str:
    return datetime.fromtimestamp(day * 86400, UTC).strftime("%m-%d")


def _week_label(day: int) -> str:
    iso = datetime.fromtimestamp(day * 86400, UTC).isocalendar()
    return f"v{iso.week}"


def show(desk: Desk, request: Request) -> Response:
    who: Viewer = request.scope["viewer"]
    t = translator(language_of(request))
    today = int(time.time() // 86400)
    monday = today - datetime.fromtimestamp(today * 86400, UTC).weekday()
    first_week = monday - 7 * (WEEKS - 1)
    rows = [r for r in desk.reads.day_figures(min(first_week, today - DAYS + 1))
            if who.sees(r.queue)]
    names = {q: desk.rules().queues[q].display_name if q in desk.rules().queues else q
             for q in who.queues}
    days = list(range(today - DAYS + 1, today + 1))
    per_day: dict[tuple[int, str], int] = {(r.day, r.queue): r.tickets for r in rows}
    new_chart = stacked_bars(
        "new", t("new_per_day"), t("new_per_day_desc", days=DAYS), [_day_label(d) for d in days],
        [Series(names[q], tuple(float(per_day.get((d, q), 0)) for d in days))
         for q in who.queues])
    weeks = [first_week + 7 * i for i in range(WEEKS)]
    by_week: dict[int, list[DayFigures]] = {w: [] for w in weeks}
    for r in rows:
        start = r.day - (r.day - first_week) % 7
        if start in by_week:
            by_week[start].append(r)
    totals = [sum(r.tickets for r in by_week[w]) for w in weeks]
    labels = [_week_label(w) for w in weeks]
    answered = [Series(t(key), tuple(float(sum(getattr(r, b) for r in by_week[w]))
                                     for w in weeks))
                for key, b in zip(BUCKET_KEYS, BUCKETS, strict=True)]
    unanswered = tuple(float(total - sum(s.values[i] for s in answered))
                       for i, total in enumerate(totals))
    answer_chart = stacked_bars("answer", t("first_answer"), t("first_answer_desc"), labels,
                                [*answered, Series(t("not_yet"), unanswered)], share=True)
    shares = [Series(flag_label(t, flag), tuple(
        sum(getattr(r, flag) for r in by_week[w]) / totals[i] if totals[i] else 0.0
        for i, w in enumerate(weeks))) for flag in FLAGS]
    etiquette_chart = lines("etiquette", t("etiquette"), t("etiquette_desc"), labels, shares)
    legend_queues = [names[q] for q in who.queues]
    return desk.page(request, "dashboard.html", {
        "charts": [
            (t("new_per_day"), t("new_per_day_desc", days=DAYS), Markup(new_chart),
             legend_queues, "s"),
            (t("first_answer"), t("first_answer_desc"), Markup(answer_chart),
             [s.name for s in answered] + [t("not_yet")], "s"),
            (t("etiquette"), t("etiquette_desc"), Markup(etiquette_chart),
             [s.name for s in shares], "l"),
        ],
        "weeks": list(zip(labels, totals, strict=True)),
    })
