"""The complaint screens, mounted at the site root next to the transfer screens."""

from django.urls import path

from backoffice import converters  # noqa: F401 - registers <id:...>

from . import views

app_name = "complaints"

urlpatterns = [
    path("complaints/", views.complaint_list, name="complaint_list"),
    path("complaints/new/", views.complaint_create, name="complaint_create"),
    path("complaints/<id:pk>/", views.complaint_detail, name="complaint_detail"),
    path("complaints/<id:pk>/acknowledge/", views.complaint_acknowledge, name="complaint_acknowledge"),
    path("complaints/<id:pk>/investigate/", views.complaint_investigate, name="complaint_investigate"),
    path("complaints/<id:pk>/note/", views.complaint_note, name="complaint_note"),
    path("complaints/<id:pk>/assign/", views.complaint_assign, name="complaint_assign"),
    path("complaints/<id:pk>/take/", views.complaint_take, name="complaint_take"),
    path("complaints/<id:pk>/numbers/add/", views.complaint_add_number, name="complaint_add_number"),
    path("complaints/<id:pk>/block/", views.complaint_block, name="complaint_block"),
    path("complaints/<id:pk>/blocks/<id:block_id>/lift/", views.complaint_lift_block, name="complaint_lift_block"),
    path("complaints/<id:pk>/restorations/request/", views.restoration_request, name="restoration_request"),
    path(
        "complaints/<id:pk>/restorations/<id:restoration_id>/approve/",
        views.restoration_approve,
        name="restoration_approve",
    ),
    path(
        "complaints/<id:pk>/restorations/<id:restoration_id>/reject/",
        views.restoration_reject,
        name="restoration_reject",
    ),
    path(
        "complaints/<id:pk>/restorations/<id:restoration_id>/cancel/",
        views.restoration_cancel,
        name="restoration_cancel",
    ),
    path("complaints/<id:pk>/offers/propose/", views.offer_propose, name="offer_propose"),
    path("complaints/<id:pk>/offers/<id:offer_id>/approve/", views.offer_approve, name="offer_approve"),
    path("complaints/<id:pk>/offers/<id:offer_id>/refuse/", views.offer_refuse, name="offer_refuse"),
    path("complaints/<id:pk>/offers/<id:offer_id>/make/", views.offer_make, name="offer_make"),
    path("complaints/<id:pk>/offers/<id:offer_id>/respond/", views.offer_respond, name="offer_respond"),
    path("complaints/<id:pk>/offers/<id:offer_id>/withdraw/", views.offer_withdraw, name="offer_withdraw"),
    path("complaints/<id:pk>/regulator/", views.regulator_case_record, name="regulator_case_record"),
    path(
        "complaints/<id:pk>/regulator/<id:case_id>/respond/",
        views.regulator_response_record,
        name="regulator_response_record",
    ),
    path("complaints/<id:pk>/flags/", views.employee_flag, name="employee_flag"),
    path(
        "complaints/<id:pk>/flags/<id:flag_id>/withdraw/",
        views.employee_flag_withdraw,
        name="employee_flag_withdraw",
    ),
    path("complaints/<id:pk>/resolve/", views.complaint_resolve, name="complaint_resolve"),
    path("complaints/<id:pk>/close/", views.complaint_close, name="complaint_close"),
    path("complaints/<id:pk>/reopen/", views.complaint_reopen, name="complaint_reopen"),
]
