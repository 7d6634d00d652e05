from django.apps import AppConfig


class ComplaintsConfig(AppConfig):
    name = "complaints"
    verbose_name = "Complaints"

    def ready(self) -> None:
        from numbers.signals import transfer_disputed
        from staff.services import register_regrant_check

        from .receivers import complaint_regrant_refusal, open_complaint_for_dispute

        # A holder's "NO <ref>" by SMS opens a complaint (numbers knows nothing of complaints).
        transfer_disputed.connect(open_complaint_for_dispute, dispatch_uid="complaints_open_for_dispute")
        # Reinstating an employee gives a complaint grant back only if the complaint is still theirs.
        register_regrant_check("complaints.complaint", complaint_regrant_refusal)
        # Numbers (a lower floor) asks through its registry, never by importing complaints.
        from numbers import registry

        from . import selectors

        registry.register_open_complaint(
            on_number=selectors.open_complaint_on_number, by_subscriber=selectors.open_complaint_by_subscriber
        )
        # A number frozen by a complaint's emergency block, or under an open complaint, is
        # left alone by lifecycle moves and the lifecycle job.
        registry.register_number_freeze(
            block_reference=selectors.emergency_block_reference,
            blocked_among=selectors.blocked_among,
            complained_among=selectors.complained_among,
        )
        # Numbers' admin pages list the complaints; its approval queue, their four-eyes decisions.
        registry.register_complaints(
            matching=selectors.complaints_matching,
            restorations_awaiting=selectors.restorations_awaiting,
            offers_awaiting=selectors.offers_awaiting,
        )
