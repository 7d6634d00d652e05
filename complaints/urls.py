"""The complaint screens, mounted at the site root next to the transfer screens."""

from django.urls import path

from backoffice import converters  # noqa: F401 - registers <id:...>

from .views import blocks, detail, moves, offers, queue, regulator

app_name = "complaints"

urlpatterns = [
    path("complaints/", queue.complaint_list, name="complaint_list"),
    path("complaints/new/", queue.complaint_create, name="complaint_create"),
    path("complaints/<id:pk>/", detail.complaint_detail, name="complaint_detail"),
    path("complaints/<id:pk>/acknowledge/", moves.complaint_acknowledge, name="complaint_acknowledge"),
    path("complaints/<id:pk>/investigate/", moves.complaint_investigate, name="complaint_investigate"),
    path("complaints/<id:pk>/note/", moves.complaint_note, name="complaint_note"),
    path("complaints/<id:pk>/assign/", moves.complaint_assign, name="complaint_assign"),
    path("complaints/<id:pk>/take/", moves.complaint_take, name="complaint_take"),
    path("complaints/<id:pk>/numbers/add/", blocks.complaint_add_number, name="complaint_add_number"),
    path("complaints/<id:pk>/block/", blocks.complaint_block, name="complaint_block"),
    path("complaints/<id:pk>/blocks/<id:block_id>/lift/", blocks.complaint_lift_block, name="complaint_lift_block"),
    path("complaints/<id:pk>/restorations/request/", blocks.restoration_request, name="restoration_request"),
    path(
        "complaints/<id:pk>/restorations/<id:restoration_id>/approve/",
        blocks.restoration_approve,
        name="restoration_approve",
    ),
    path(
        "complaints/<id:pk>/restorations/<id:restoration_id>/reject/",
        blocks.restoration_reject,
        name="restoration_reject",
    ),
    path(
        "complaints/<id:pk>/restorations/<id:restoration_id>/cancel/",
        blocks.restoration_cancel,
        name="restoration_cancel",
    ),
    path("complaints/<id:pk>/offers/propose/", offers.offer_propose, name="offer_propose"),
    path("complaints/<id:pk>/offers/<id:offer_id>/approve/", offers.offer_approve, name="offer_approve"),
    path("complaints/<id:pk>/offers/<id:offer_id>/refuse/", offers.offer_refuse, name="offer_refuse"),
    path("complaints/<id:pk>/offers/<id:offer_id>/make/", offers.offer_make, name="offer_make"),
    path("complaints/<id:pk>/offers/<id:offer_id>/respond/", offers.offer_respond, name="offer_respond"),
    path("complaints/<id:pk>/offers/<id:offer_id>/withdraw/", offers.offer_withdraw, name="offer_withdraw"),
    path("complaints/<id:pk>/regulator/", regulator.regulator_case_record, name="regulator_case_record"),
    path(
        "complaints/<id:pk>/regulator/<id:case_id>/respond/",
        regulator.regulator_response_record,
        name="regulator_response_record",
    ),
    path("complaints/<id:pk>/flags/", regulator.employee_flag, name="employee_flag"),
    path(
        "complaints/<id:pk>/flags/<id:flag_id>/withdraw/",
        regulator.employee_flag_withdraw,
        name="employee_flag_withdraw",
    ),
    path("complaints/<id:pk>/resolve/", moves.complaint_resolve, name="complaint_resolve"),
    path("complaints/<id:pk>/close/", moves.complaint_close, name="complaint_close"),
    path("complaints/<id:pk>/reopen/", moves.complaint_reopen, name="complaint_reopen"),
]
