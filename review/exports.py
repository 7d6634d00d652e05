"""An employee's timeline as a CSV file (one row per field change, then one per
refused attempt) and as a printable PDF dossier for a disciplinary hearing: who
they are, the grounds, what they changed and why, what they were refused, when
they signed in, and whether the audit chains behind it hold."""

from __future__ import annotations

import csv
import datetime
import io
import re

from django.http import HttpResponse, StreamingHttpResponse
from django.utils import timezone

from audit.chain import verify_table
from audit.models import AccessEvent, RefusedAttempt
from backoffice.spreadsheet import safe_row

from . import pdf_fonts, selectors

EXPORT_LIMIT = 10_000  # entries in a CSV; narrow the period for more
DOSSIER_LIMIT = 2_000  # entries in a dossier
CELL_LIMIT = 3_000  # characters of one value in the dossier (the CSV has them all)
CSV_HEADER = [
    "when",
    "request id",
    "action",
    "model",
    "object id",
    "object",
    "field",
    "before",
    "after",
    "reason",
    "actor",
]


def _filename(prefix: str, user, period: tuple[datetime.date, datetime.date], ext: str) -> str:
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", user.get_username()) or f"user{user.pk}"
    return f"{prefix}-{name}-{period[0].isoformat()}-{period[1].isoformat()}.{ext}"


def _local(moment: datetime.datetime) -> datetime.datetime:
    return timezone.localtime(moment) if timezone.is_aware(moment) else moment


# --- CSV ---------------------------------------------------------------------------------


def csv_rows(entries):
    for entry in entries:
        head = [
            _local(entry.when).isoformat(),
            entry.request_id,
            entry.action_name,
            entry.model_label,
            entry.object_id,
            entry.object_str,
        ]
        tail = [entry.reason, entry.actor_label]
        for change in entry.changes or [None]:
            middle = [change.field, change.before, change.after] if change else ["", "", ""]
            yield head + middle + tail


def refusal_rows(attempts):
    """A refused attempt in the CSV's columns: action "refused", the rule and the service
    as the field's "after", the refusal's message as the reason."""
    for attempt in attempts:
        yield [
            _local(attempt.at).isoformat(),
            attempt.history_request_id,
            "refused",
            attempt.target_model,
            attempt.target_pk,
            attempt.target_label,
            f"{attempt.get_kind_display()} ({attempt.service})",
            "",
            attempt.rule,
            attempt.message,
            attempt.actor_label,
        ]


class _Echo:
    def write(self, value):
        return value


def _limited(user, since, until, models, actions, limit):
    """The period's entries up to ``limit``, then None if there were more."""
    entries = selectors.employee_timeline_all(user, since, until, models, actions, limit=limit + 1)
    for count, entry in enumerate(entries, start=1):
        if count > limit:
            yield None
            return
        yield entry


def timeline_csv(user, since, until, *, models=None, actions=None, period) -> StreamingHttpResponse:
    writer = csv.writer(_Echo())

    def rows():
        yield writer.writerow(CSV_HEADER)
        for entry in _limited(user, since, until, models, actions, EXPORT_LIMIT):
            if entry is None:
                yield writer.writerow([f"More than {EXPORT_LIMIT} changes: narrow the period for the rest."])
                break
            for row in csv_rows([entry]):
                yield writer.writerow(safe_row(row))
        attempts, more = selectors.refused_attempts(user, since, until, limit=EXPORT_LIMIT)
        for row in refusal_rows(attempts):
            yield writer.writerow(safe_row(row))
        if more:
            yield writer.writerow([f"More than {EXPORT_LIMIT} refused attempts: narrow the period for the rest."])

    response = StreamingHttpResponse(rows(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{_filename("review", user, period, "csv")}"'
    return response


# --- PDF dossier -------------------------------------------------------------------------


def _text(value) -> str:
    """Paragraph markup for a value: escaped, each script in a shipped font that draws it."""
    text = "" if value is None else str(value)
    if len(text) > CELL_LIMIT:
        text = text[:CELL_LIMIT] + " [...]"
    text = text.replace("\u2192", "->").replace("\u2014", "-").replace("\u2013", "-")  # as before the fonts
    return pdf_fonts.paragraph_markup(text)


def _paragraph(markup: str, style):
    """A Paragraph, shaped (uharfbuzz) only when it holds Khmer or Arabic: Khmer subscripts and vowels
    and Arabic joining need it, while shaped Latin gains ligatures (fi, fl) that read back badly."""
    from reportlab.platypus import Paragraph

    if pdf_fonts.needs_shaping(markup):
        style = style.clone(f"{style.name}-shaped", shaping=1)
    return Paragraph(markup, style)


def _when(moment) -> str:
    return _local(moment).strftime("%Y-%m-%d %H:%M:%S") if moment else ""


def dossier_pdf(user, since, until, *, generated_by, models=None, actions=None, period) -> HttpResponse:
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4, landscape
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.lib.units import mm
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

    summary = selectors.employee_summary(user)
    entries, truncated = [], False
    for entry in _limited(user, since, until, models, actions, DOSSIER_LIMIT):
        if entry is None:
            truncated = True
            break
        entries.append(entry)
    events, more_events = selectors.access_events(user, since, until, limit=1000)
    refusals, more_refusals = selectors.refused_attempts(user, since, until, limit=1000)
    flagged = selectors.entries_for((flag.change_model, flag.change_history_id) for flag in summary.flags)

    pdf_fonts.register()
    styles = getSampleStyleSheet()
    # Noto Sans (a TrueType font) so that ReportLab shapes Khmer and Arabic runs (with uharfbuzz).
    body = styles["BodyText"].clone("dossier-body", fontName=pdf_fonts.LATIN)
    small = body.clone("dossier-small", fontSize=7.5, leading=9)
    heading = styles["Heading2"].clone("dossier-heading", fontName=pdf_fonts.LATIN_BOLD)
    title = styles["Title"].clone("dossier-title", fontName=pdf_fonts.LATIN_BOLD)

    def p(value, style=small):
        return _paragraph(_text(value), style)

    def table(header, rows, widths):
        """A grid; the header row (if any) shaded and repeated on every page."""
        data = [[p(h) for h in header]] if header else []
        data += [[cell if isinstance(cell, Paragraph) else p(cell) for cell in r] for r in rows]
        style = [("GRID", (0, 0), (-1, -1), 0.25, colors.grey), ("VALIGN", (0, 0), (-1, -1), "TOP")]
        if header:
            style.append(("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e8eef3")))
        else:
            style.append(("BACKGROUND", (0, 0), (0, -1), colors.HexColor("#e8eef3")))
        return Table(data, colWidths=widths, repeatRows=1 if header else 0, splitInRow=1, style=TableStyle(style))

    page_size = landscape(A4)
    width = page_size[0] - 30 * mm
    story = [Paragraph("Disciplinary dossier", title)]

    employee = summary.employee
    roles = ", ".join(summary.roles) or "none"
    if summary.suspension is not None:
        roles += f" (before the suspension: {', '.join(summary.roles_before_suspension) or 'none'})"
    cover = [
        ("Employee", summary.name),
        ("Username", user.get_username()),
        ("Employee code", employee.employee_code if employee else "-"),
        ("Branches", ", ".join(str(b) for b in summary.branches) or "none"),
        ("Roles", roles),
        ("Account", "active" if user.is_active else "disabled"),
        ("Employment status", summary.employment_status),
    ]
    if summary.suspension is not None:
        s = summary.suspension
        cover.append(("Suspended", f"{_when(s.suspended_at)} by {selectors.user_label(s.suspended_by)}: {s.reason}"))
    cover += [
        ("Period", f"{period[0].isoformat()} to {period[1].isoformat()} (both days included)"),
        ("Generated", f"{_when(timezone.now())} by {selectors.user_label(generated_by)}"),
    ]
    if models or actions:
        cover.append(("Filters", "; ".join(filter(None, [", ".join(models or []), ", ".join(actions or [])]))))
    story += [table(None, cover, [45 * mm, width - 45 * mm]), Spacer(1, 6 * mm)]

    # Grounds: flags, cases, complaints.
    story.append(Paragraph("Grounds", heading))
    if summary.flags:
        rows = []
        for flag in summary.flags:
            change = flagged.get((flag.change_model, flag.change_history_id))
            detail = (
                "; ".join(f"{c.field}: {c.before or '-'} -> {c.after or '-'}" for c in change.changes) if change else ""
            )
            state = "withdrawn: " + flag.withdrawal_reason if flag.withdrawn_at else "standing"
            rows.append(
                [
                    flag.complaint.reference,
                    f"{_when(flag.flagged_at)} by {selectors.user_label(flag.flagged_by)}",
                    flag.change_summary + (f" [{detail}]" if detail else ""),
                    flag.reason,
                    state,
                ]
            )
        story.append(
            table(["Complaint", "Flagged", "Flagged change", "Why", "State"], rows, _widths(width, [1, 2, 5, 3, 1.5]))
        )
    else:
        story.append(p("No employee flag on record.", body))
    story.append(Spacer(1, 3 * mm))
    if summary.cases:
        rows = [
            [
                case.reference,
                case.get_state_display(),
                f"{_when(case.opened_at)} by {selectors.user_label(case.opened_by)}",
                case.summary,
                case.get_outcome_display() if case.outcome else "",
            ]
            for case in summary.cases
        ]
        story.append(
            table(["Case", "State", "Opened", "Summary", "Outcome"], rows, _widths(width, [1, 1.5, 2, 5, 1.5]))
        )
    else:
        story.append(p("No disciplinary case on record.", body))
    complaints = {flag.complaint.pk: flag.complaint for flag in summary.flags}
    if complaints:
        story.append(Spacer(1, 3 * mm))
        rows = [
            [c.reference, c.get_category_display(), c.get_state_display(), _when(c.received_at), c.description]
            for c in complaints.values()
        ]
        story.append(
            table(
                ["Complaint", "Category", "State", "Received", "Description"], rows, _widths(width, [1, 2, 1, 1.5, 5])
            )
        )

    # The timeline.
    story.append(_paragraph(_text(f"Changes made by {user.get_username()} in the period"), heading))
    if entries:
        rows = []
        for entry in entries:
            record = f"{entry.action_name} {entry.model_name} {entry.object_str} (#{entry.object_id})"
            why = f"{entry.reason}\nrequest {entry.request_id}" if entry.request_id else entry.reason
            # The entry once, then one line per field: a row never outgrows a page.
            for index, change in enumerate(entry.changes or [None]):
                first = index == 0
                rows.append(
                    [
                        _when(entry.when) if first else "",
                        record if first else "",
                        change.field if change else "",
                        change.before if change else "",
                        change.after if change else "",
                        why if first else "",
                    ]
                )
        story.append(
            table(
                ["When", "Record", "Field", "Before", "After", "Reason"],
                rows,
                _widths(width, [1.3, 2.4, 1.3, 2, 2, 2.6]),
            )
        )
        if truncated:
            story.append(p(f"Only the first {DOSSIER_LIMIT} changes are shown: narrow the period for the rest.", body))
    else:
        story.append(p("No change recorded in the period.", body))

    # What the portal refused them: attempts, on authority or a rule.
    story.append(_paragraph(_text(f"Attempts refused to {user.get_username()} in the period"), heading))
    if refusals:
        rows = [
            [
                _when(a.at),
                f"{a.service}\n{a.get_kind_display()}: {a.rule}",
                f"{a.target_label} ({a.target_model} #{a.target_pk})" if a.target_model else "",
                a.message,
                a.history_request_id,
            ]
            for a in refusals
        ]
        story.append(
            table(
                ["When", "Refused", "Acted on", "Why it was refused", "Request"],
                rows,
                _widths(width, [1.3, 2, 2.4, 4, 1.6]),
            )
        )
        if more_refusals:
            story.append(p("Only the newest 1000 refused attempts are shown.", body))
    else:
        story.append(p("No refused attempt recorded in the period.", body))

    # The access log.
    story.append(Paragraph("Sign-ins and sign-outs", heading))
    if events:
        rows = [[_when(e.at), e.get_kind_display(), e.username, e.ip_address or "", e.user_agent] for e in events]
        story.append(
            table(["When", "Event", "Username", "Address", "Browser"], rows, _widths(width, [1.3, 1.2, 1.2, 1.2, 5]))
        )
        if more_events:
            story.append(p("Only the newest 1000 events are shown.", body))
    else:
        story.append(p("No sign-in or sign-out recorded in the period.", body))

    # Whether the audit chains the dossier relies on are intact.
    story.append(Paragraph("Audit chain verification", heading))
    tables = {t.label: t.model for t in selectors.tables_of(entries)}
    for flag in summary.flags:
        table_ = selectors.table_for(flag.change_model)
        if table_ is not None:
            tables[table_.label] = table_.model
    checked = sorted({m._meta.db_table: m for m in [*tables.values(), AccessEvent, RefusedAttempt]}.items())
    rows = []
    for db_table, model in checked:
        count, problem = verify_table(model)
        rows.append([db_table, str(count), "intact" if problem is None else f"BROKEN: {problem}"])
    story.append(table(["Table", "Records", "Result"], rows, _widths(width, [3, 1, 6])))

    def footer(canvas, doc):
        canvas.saveState()
        canvas.setFont(pdf_fonts.LATIN, 7)
        canvas.drawString(15 * mm, 8 * mm, _plain(f"Dossier of {user.get_username()}, {period[0]} to {period[1]}"))
        canvas.drawRightString(page_size[0] - 15 * mm, 8 * mm, f"page {doc.page}")
        canvas.restoreState()

    buffer = io.BytesIO()
    doc = SimpleDocTemplate(
        buffer,
        pagesize=page_size,
        leftMargin=15 * mm,
        rightMargin=15 * mm,
        topMargin=12 * mm,
        bottomMargin=14 * mm,
        title=f"Disciplinary dossier: {user.get_username()}",
        author=generated_by.get_username(),
    )
    doc.build(story, onFirstPage=footer, onLaterPages=footer)
    response = HttpResponse(buffer.getvalue(), content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{_filename("dossier", user, period, "pdf")}"'
    return response


def _plain(text: str) -> str:
    """Text for a line drawn straight on the canvas (one font, no shaping): what Noto Sans cannot
    draw is spelled as its code point."""
    return "".join(
        run if font == pdf_fonts.LATIN else "".join(f"[U+{ord(c):04X}]" for c in run)
        for font, run in pdf_fonts.runs(text)
    )


def _widths(total: float, parts: list[float]) -> list[float]:
    scale = total / sum(parts)
    return [part * scale for part in parts]
