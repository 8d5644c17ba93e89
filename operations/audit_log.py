"""Staff's audit log page (distribution.audit): newest first, filtered, paged, and exported as CSV.

Read only: no page changes a line. The CSV holds every line the filters match,
streamed, so an export of a year's log never sits in memory.
"""

import csv
import datetime
import json
from collections.abc import Iterator
from urllib.parse import urlencode

from django import forms
from django.core.paginator import Paginator
from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone

from distribution import audit
from distribution.models import AuditEntry
from distribution.views.staff import staff_only

ENTRIES_PER_PAGE = 50
CSV_COLUMNS = ["at", "actor", "action", "target_type", "target_id", "target", "address", "details"]
# A cell that starts with one of these is a formula to a spreadsheet: a user name or a release's
# version typed by someone could run one on the reader's machine (CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


class AuditFilterForm(forms.Form):
    actor = forms.CharField(required=False, max_length=150, label="Who")
    action = forms.CharField(required=False, max_length=64, help_text='Whole, or its start: "release."')
    target = forms.CharField(required=False, max_length=255, help_text="Part of its name")
    release = forms.IntegerField(required=False, min_value=1, label="Release id")
    address = forms.CharField(required=False, max_length=45, help_text='Whole, or its start: "10.1."')
    since = forms.DateField(required=False, label="From", widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(required=False, label="To", widget=forms.DateInput(attrs={"type": "date"}))

    def clean(self):
        cleaned = super().clean()
        since, until = cleaned.get("since"), cleaned.get("until")
        if since and until and since > until:
            self.add_error("until", "The end comes before the start.")
        return cleaned

    def entries(self) -> QuerySet[AuditEntry]:
        data = self.cleaned_data
        return audit.entries_matching(
            actor=data["actor"].strip(),
            action=data["action"].strip(),
            target=data["target"].strip(),
            release_id=data["release"],
            since=data["since"],
            until=data["until"],
            address=data["address"].strip(),
        )

    def query(self) -> str:
        """The filters as a query string, for the pager's and the export's links."""
        return urlencode({name: value for name, value in self.data.items() if name in self.fields and value})


@staff_only(name="The audit log")
def audit_log(request: HttpRequest) -> HttpResponse:
    form = AuditFilterForm(request.GET)
    if not form.is_valid():
        return render(
            request, "operations/audit_log.html", {"form": form, "actions": audit.ACTIONS}, status=400
        )
    page = Paginator(form.entries(), ENTRIES_PER_PAGE).get_page(request.GET.get("page"))
    for entry in page:
        entry.detail_lines = [(name, _detail_text(value)) for name, value in entry.details.items()]
    return render(
        request,
        "operations/audit_log.html",
        {"form": form, "page": page, "query": form.query(), "actions": audit.ACTIONS},
    )


@staff_only(name="The audit log")
def audit_log_csv(request: HttpRequest) -> HttpResponse:
    form = AuditFilterForm(request.GET)
    if not form.is_valid():
        errors = "; ".join(f"{name}: {' '.join(messages)}" for name, messages in form.errors.items())
        return HttpResponse(f"{errors}\n", status=400, content_type="text/plain; charset=utf-8")
    response = StreamingHttpResponse(_csv_lines(form.entries()), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="audit-log-{timezone.now():%Y%m%d-%H%M%S}.csv"'
    return response


def _detail_text(value) -> str:
    return value if isinstance(value, str) else json.dumps(value, cls=DjangoJSONEncoder, ensure_ascii=False)


class _Line:
    """csv.writer's file: hands back the line it was given."""

    def write(self, line: str) -> str:
        return line


def _csv_lines(entries: QuerySet[AuditEntry]) -> Iterator[str]:
    writer = csv.writer(_Line())
    yield writer.writerow(CSV_COLUMNS)
    for entry in entries.iterator(chunk_size=2000):
        yield writer.writerow(
            _safe_cell(value)
            for value in (
                entry.at.astimezone(datetime.UTC).isoformat(),
                entry.actor_name,
                entry.action,
                entry.target_type,
                entry.target_id,
                entry.target_text,
                entry.address or "",
                json.dumps(entry.details, cls=DjangoJSONEncoder, ensure_ascii=False, sort_keys=True),
            )
        )


def _safe_cell(value: str) -> str:
    return "'" + value if value.startswith(FORMULA_STARTS) else value
