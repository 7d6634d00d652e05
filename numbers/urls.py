"""The transfer screens and the approval queue, mounted at the site root."""

from django.urls import path

from backoffice import converters  # noqa: F401 - registers <id:...>

from . import views, views_withdrawals

app_name = "numbers"

urlpatterns = [
    path("transfers/", views.transfer_list, name="transfer_list"),
    path("transfers/new/", views.transfer_create, name="transfer_create"),
    path("transfers/<id:pk>/", views.transfer_detail, name="transfer_detail"),
    path("transfers/<id:pk>/consent/in-person/", views.consent_in_person, name="transfer_consent_in_person"),
    path("transfers/<id:pk>/consent/signed-form/", views.consent_signed_form, name="transfer_consent_signed_form"),
    path("transfers/<id:pk>/send-code/", views.consent_code_send, name="transfer_send_code"),
    path("transfers/<id:pk>/verify-code/", views.consent_code_verify, name="transfer_verify_code"),
    path("transfers/<id:pk>/consents/<id:consent_id>/revoke/", views.consent_revoke, name="transfer_consent_revoke"),
    path(
        "transfers/<id:pk>/consents/<id:consent_id>/form/",
        views.consent_signed_form_download,
        name="transfer_consent_form",
    ),
    path(
        "transfers/<id:pk>/consents/<id:consent_id>/confirm/",
        views.consent_confirm,
        name="transfer_consent_confirm",
    ),
    path(
        "transfers/<id:pk>/consents/<id:consent_id>/photo/",
        views.consent_document_photo,
        name="transfer_consent_photo",
    ),
    path("transfers/<id:pk>/cancel/", views.transfer_cancel, name="transfer_cancel"),
    path("disconnections/", views.disconnection_check, name="disconnection_check"),
    path("approvals/", views.approval_queue, name="approval_queue"),
    path("approvals/<id:pk>/", views.approval_detail, name="approval_detail"),
    path("approvals/<id:pk>/approve/", views.transfer_approve, name="transfer_approve"),
    path("approvals/<id:pk>/reject/", views.transfer_reject, name="transfer_reject"),
    path("withdrawals/", views_withdrawals.withdrawal_queue, name="withdrawal_queue"),
    path("withdrawals/new/", views_withdrawals.withdrawal_create, name="withdrawal_create"),
    path("withdrawals/<id:pk>/", views_withdrawals.withdrawal_detail, name="withdrawal_detail"),
    path("withdrawals/<id:pk>/document/", views_withdrawals.withdrawal_document, name="withdrawal_document"),
    path("withdrawals/<id:pk>/send-code/", views_withdrawals.withdrawal_send_code, name="withdrawal_send_code"),
    path(
        "withdrawals/<id:pk>/confirm-code/", views_withdrawals.withdrawal_confirm_code, name="withdrawal_confirm_code"
    ),
    path("withdrawals/<id:pk>/cancel/", views_withdrawals.withdrawal_cancel, name="withdrawal_cancel"),
    path("withdrawals/<id:pk>/approve/", views_withdrawals.withdrawal_approve, name="withdrawal_approve"),
    path("withdrawals/<id:pk>/reject/", views_withdrawals.withdrawal_reject, name="withdrawal_reject"),
    path("withdrawals/<id:pk>/in-person/", views_withdrawals.withdrawal_in_person, name="withdrawal_in_person"),
    path(
        "withdrawals/<id:pk>/confirm-check/",
        views_withdrawals.withdrawal_confirm_check,
        name="withdrawal_confirm_check",
    ),
    path("withdrawals/<id:pk>/photo/", views_withdrawals.withdrawal_holder_photo, name="withdrawal_holder_photo"),
    path("withdrawals/<id:pk>/reinstate/", views_withdrawals.withdrawal_reinstate, name="withdrawal_reinstate"),
]
