"""What each role may do, written once.

Model permissions say which screens a role uses; branch object permissions
(granted per branch an employee works for) say where they may act. Nothing is
granted per number: number access is derived from the branch.
"""

from .choices import Role

_PORTAL_MODELS = {
    "numbers": [
        "branch",
        "subscriber",
        "mobilenumber",
        "holding",
        "transferrequest",
        "transferconsent",
        "transferlock",
        "inactivitywarning",
        "withdrawalrequest",
        "subscriberchangerequest",
        "identityexport",
    ],
    "staff": ["employee", "staffnotice"],
    "sms": ["smsmessage", "inboundsms"],
    "complaints": [
        "complaint",
        "complaintnumber",
        "complaintevent",
        "emergencyblock",
        "restoration",
        "compensationoffer",
        "regulatorcase",
        "regulatorresponse",
        "employeeflag",
        "slatable",
        "slarule",
        "workingcalendar",
        "holiday",
    ],
}

# Counter staff see transfer requests, consents, locks and withdrawal requests of their branches (the
# services decide what they may do with them).
_TRANSFER_VIEW = [
    "numbers.view_transferrequest",
    "numbers.view_transferconsent",
    "numbers.view_transferlock",
    "numbers.view_withdrawalrequest",
]

BRANCH_PERMS = ("view_branch_numbers", "operate_branch", "supervise_branch", "handle_branch_complaints")


def _model_perms(actions: list[str], models: dict[str, list[str]] | None = None) -> list[str]:
    models = models or _PORTAL_MODELS
    return [f"{app}.{action}_{model}" for app, names in models.items() for model in names for action in actions]


# Branch staff read complaints and their parts and take complaints in; who acts
# on one is the assigned handler's object permission (see complaints.services).
_COMPLAINT_CASE_MODELS = _PORTAL_MODELS["complaints"][:9]
_COMPLAINTS = _model_perms(["view"], {"complaints": _COMPLAINT_CASE_MODELS}) + ["complaints.add_complaint"]

# The audit review (/review/): read every history record and access event, keep
# disciplinary cases and suspend an employee under review.
_REVIEW = [
    "audit.review_audit",
    "audit.view_accessevent",
    "audit.view_refusedattempt",
    "audit.view_disciplinarycase",
    "audit.view_casenote",
    "staff.view_suspension",
]

# Model-level permissions of each role's group ("app_label.codename").
ROLE_MODEL_PERMS: dict[str, list[str]] = {
    Role.AGENT: [
        "numbers.view_branch",
        "numbers.view_mobilenumber",
        "numbers.change_mobilenumber",
        "numbers.view_holding",
        "numbers.view_inactivitywarning",
        "numbers.view_subscriber",
        "numbers.add_subscriber",
        "numbers.change_subscriber",
        "numbers.view_subscriberchangerequest",
        "numbers.add_transferrequest",
        *_TRANSFER_VIEW,
        *_COMPLAINTS,
    ],
    Role.SUPERVISOR: [
        "numbers.view_branch",
        "numbers.view_mobilenumber",
        "numbers.change_mobilenumber",
        "numbers.view_holding",
        "numbers.view_inactivitywarning",
        "numbers.view_subscriber",
        "numbers.add_subscriber",
        "numbers.change_subscriber",
        "numbers.view_subscriberchangerequest",
        # A compliance export of identity documents: one asks, another approves (four eyes).
        "numbers.view_identityexport",
        "numbers.export_identity",
        "numbers.add_transferrequest",
        *_TRANSFER_VIEW,
        *_COMPLAINTS,
        "staff.view_employee",
    ],
    Role.COMPLAINT_HANDLER: [
        "numbers.view_branch",
        "numbers.view_mobilenumber",
        "numbers.change_mobilenumber",
        "numbers.view_holding",
        "numbers.view_inactivitywarning",
        "numbers.view_subscriber",
        *_TRANSFER_VIEW,
        *_COMPLAINTS,
    ],
    # Auditors read everything everywhere and change nothing.
    # They are also the compliance side of the identity export's four eyes.
    Role.AUDITOR: _model_perms(["view"]) + ["numbers.view_branch_numbers", "numbers.export_identity"] + _REVIEW,
    # Administrators run the inventory and staff records, in every branch; they
    # do not approve (that is the supervisors' four-eyes duty).
    Role.ADMINISTRATOR: _model_perms(["view", "add", "change"])
    + ["complaints.delete_holiday"]
    + ["numbers.view_branch_numbers", "numbers.operate_branch", "auth.view_user", "auth.add_user", "auth.change_user"]
    + _REVIEW,
}

# Object permissions on each branch the employee works for.
ROLE_BRANCH_PERMS: dict[str, tuple[str, ...]] = {
    Role.AGENT: ("view_branch_numbers", "operate_branch"),
    Role.SUPERVISOR: ("view_branch_numbers", "operate_branch", "supervise_branch"),
    Role.COMPLAINT_HANDLER: ("view_branch_numbers", "handle_branch_complaints"),
    Role.AUDITOR: (),
    Role.ADMINISTRATOR: (),
}
