"""The transfer screens and the approval queue, mounted at the site root."""

from django.urls import path

from . import views, views_withdrawals

app_name = "numbers"

urlpatterns = [
    path("transfers/", views.transfer_list, name="transfer_list"),
    path("transfers/new/", views.transfer_create, name="transfer_create"),
    path("transfers/<int:pk>/", views.transfer_detail, name="transfer_detail"),
    path("transfers/<int:pk>/consent/in-person/", views.consent_in_person, name="transfer_consent_in_person"),
    path("transfers/<int:pk>/consent/signed-form/", views.consent_signed_form, name="transfer_consent_signed_form"),
    path("transfers/<int:pk>/send-code/", views.consent_code_send, name="transfer_send_code"),
    path("transfers/<int:pk>/verify-code/", views.consent_code_verify, name="transfer_verify_code"),
    path("transfers/<int:pk>/consents/<int:consent_id>/revoke/", views.consent_revoke, name="transfer_consent_revoke"),
    path(
        "transfers/<int:pk>/consents/<int:consent_id>/form/",
        views.consent_signed_form_download,
        name="transfer_consent_form",
    ),
    path(
        "transfers/<int:pk>/consents/<int:consent_id>/confirm/",
        views.consent_confirm,
        name="transfer_consent_confirm",
    ),
    path(
        "transfers/<int:pk>/consents/<int:consent_id>/photo/",
        views.consent_document_photo,
        name="transfer_consent_photo",
    ),
    path("transfers/<int:pk>/cancel/", views.transfer_cancel, name="transfer_cancel"),
    path("disconnections/", views.disconnection_check, name="disconnection_check"),
    path("approvals/", views.approval_queue, name="approval_queue"),
    path("approvals/<int:pk>/", views.approval_detail, name="approval_detail"),
    path("approvals/<int:pk>/approve/", views.transfer_approve, name="transfer_approve"),
    path("approvals/<int:pk>/reject/", views.transfer_reject, name="transfer_reject"),
    path("withdrawals/", views_withdrawals.withdrawal_queue, name="withdrawal_queue"),
    path("withdrawals/new/", views_withdrawals.withdrawal_create, name="withdrawal_create"),
    path("withdrawals/<int:pk>/", views_withdrawals.withdrawal_detail, name="withdrawal_detail"),
    path("withdrawals/<int:pk>/document/", views_withdrawals.withdrawal_document, name="withdrawal_document"),
    path("withdrawals/<int:pk>/send-code/", views_withdrawals.withdrawal_send_code, name="withdrawal_send_code"),
    path(
        "withdrawals/<int:pk>/confirm-code/", views_withdrawals.withdrawal_confirm_code, name="withdrawal_confirm_code"
    ),
    path("withdrawals/<int:pk>/cancel/", views_withdrawals.withdrawal_cancel, name="withdrawal_cancel"),
    path("withdrawals/<int:pk>/approve/", views_withdrawals.withdrawal_approve, name="withdrawal_approve"),
    path("withdrawals/<int:pk>/reject/", views_withdrawals.withdrawal_reject, name="withdrawal_reject"),
    path("withdrawals/<int:pk>/in-person/", views_withdrawals.withdrawal_in_person, name="withdrawal_in_person"),
    path(
        "withdrawals/<int:pk>/confirm-check/",
        views_withdrawals.withdrawal_confirm_check,
        name="withdrawal_confirm_check",
    ),
    path("withdrawals/<int:pk>/photo/", views_withdrawals.withdrawal_holder_photo, name="withdrawal_holder_photo"),
    path("withdrawals/<int:pk>/reinstate/", views_withdrawals.withdrawal_reinstate, name="withdrawal_reinstate"),
]
