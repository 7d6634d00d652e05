from django.apps import AppConfig


class ComplaintsConfig(AppConfig):
    name = "complaints"
    verbose_name = "Complaints"

    def ready(self) -> None:
        from numbers.signals import transfer_disputed

        from .receivers import open_complaint_for_dispute

        # A holder's "NO <ref>" by SMS opens a complaint (numbers knows nothing of complaints).
        transfer_disputed.connect(open_complaint_for_dispute, dispatch_uid="complaints_open_for_dispute")
        # Numbers (a lower floor) asks through its registry, never by importing complaints.
        from numbers.registry import register_open_complaint

        from .selectors import open_complaint_by_subscriber, open_complaint_on_number

        register_open_complaint(on_number=open_complaint_on_number, by_subscriber=open_complaint_by_subscriber)
