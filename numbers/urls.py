"""The transfer screens and the approval queue, mounted at the site root."""

from django.urls import path

from . import views

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
]
