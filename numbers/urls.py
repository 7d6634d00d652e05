"""The transfer, approval, disconnection and withdrawal screens, mounted at the site root."""

from django.urls import path

from backoffice import converters  # noqa: F401 - registers <id:...>

from .views import approvals, disconnections, transfers, withdrawals

app_name = "numbers"

urlpatterns = [
    path("transfers/", transfers.transfer_list, name="transfer_list"),
    path("transfers/new/", transfers.transfer_create, name="transfer_create"),
    path("transfers/<id:pk>/", transfers.transfer_detail, name="transfer_detail"),
    path("transfers/<id:pk>/consent/in-person/", transfers.consent_in_person, name="transfer_consent_in_person"),
    path("transfers/<id:pk>/consent/signed-form/", transfers.consent_signed_form, name="transfer_consent_signed_form"),
    path("transfers/<id:pk>/send-code/", transfers.consent_code_send, name="transfer_send_code"),
    path("transfers/<id:pk>/verify-code/", transfers.consent_code_verify, name="transfer_verify_code"),
    path(
        "transfers/<id:pk>/consents/<id:consent_id>/revoke/",
        transfers.consent_revoke,
        name="transfer_consent_revoke",
    ),
    path(
        "transfers/<id:pk>/consents/<id:consent_id>/form/",
        transfers.consent_signed_form_download,
        name="transfer_consent_form",
    ),
    path(
        "transfers/<id:pk>/consents/<id:consent_id>/confirm/",
        transfers.consent_confirm,
        name="transfer_consent_confirm",
    ),
    path(
        "transfers/<id:pk>/consents/<id:consent_id>/photo/",
        transfers.consent_document_photo,
        name="transfer_consent_photo",
    ),
    path("transfers/<id:pk>/cancel/", transfers.transfer_cancel, name="transfer_cancel"),
    path("disconnections/", disconnections.disconnection_check, name="disconnection_check"),
    path("approvals/", approvals.approval_queue, name="approval_queue"),
    path("approvals/<id:pk>/", approvals.approval_detail, name="approval_detail"),
    path("approvals/<id:pk>/approve/", approvals.transfer_approve, name="transfer_approve"),
    path("approvals/<id:pk>/reject/", approvals.transfer_reject, name="transfer_reject"),
    path("withdrawals/", withdrawals.withdrawal_queue, name="withdrawal_queue"),
    path("withdrawals/new/", withdrawals.withdrawal_create, name="withdrawal_create"),
    path("withdrawals/<id:pk>/", withdrawals.withdrawal_detail, name="withdrawal_detail"),
    path("withdrawals/<id:pk>/document/", withdrawals.withdrawal_document, name="withdrawal_document"),
    path("withdrawals/<id:pk>/send-code/", withdrawals.withdrawal_send_code, name="withdrawal_send_code"),
    path("withdrawals/<id:pk>/confirm-code/", withdrawals.withdrawal_confirm_code, name="withdrawal_confirm_code"),
    path("withdrawals/<id:pk>/cancel/", withdrawals.withdrawal_cancel, name="withdrawal_cancel"),
    path("withdrawals/<id:pk>/approve/", withdrawals.withdrawal_approve, name="withdrawal_approve"),
    path("withdrawals/<id:pk>/reject/", withdrawals.withdrawal_reject, name="withdrawal_reject"),
    path("withdrawals/<id:pk>/in-person/", withdrawals.withdrawal_in_person, name="withdrawal_in_person"),
    path(
        "withdrawals/<id:pk>/confirm-check/",
        withdrawals.withdrawal_confirm_check,
        name="withdrawal_confirm_check",
    ),
    path("withdrawals/<id:pk>/photo/", withdrawals.withdrawal_holder_photo, name="withdrawal_holder_photo"),
    path("withdrawals/<id:pk>/reinstate/", withdrawals.withdrawal_reinstate, name="withdrawal_reinstate"),
]
