"""The audit review, mounted at /review/: auditors and administrators only."""

from django.urls import path

from backoffice import converters  # noqa: F401 - registers <id:...>

from . import views

app_name = "audit"

urlpatterns = [
    path("", views.review, name="review"),
    path("export.csv", views.export_csv, name="export-csv"),
    path("dossier.pdf", views.export_pdf, name="export-pdf"),
    path("employee/<id:user_id>/open-case/", views.employee_open_case, name="employee-open-case"),
    path("employee/<id:user_id>/suspend/", views.employee_suspend, name="employee-suspend"),
    path("object/", views.object_lookup, name="object-lookup"),
    path("object/<str:label>/<str:pk>/", views.object_detail, name="object"),
    path("request/<str:request_id>/", views.request_detail, name="request"),
    path("cases/", views.case_list, name="case-list"),
    path("cases/<id:pk>/", views.case_detail, name="case-detail"),
    path("cases/<id:pk>/note/", views.case_note, name="case-note"),
    path("cases/<id:pk>/suspend/", views.case_suspend, name="case-suspend"),
    path("cases/<id:pk>/close/", views.case_close, name="case-close"),
]
