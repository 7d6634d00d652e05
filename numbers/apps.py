from django.apps import AppConfig


class NumbersConfig(AppConfig):
    name = "numbers"
    verbose_name = "Numbers and subscribers"

    def ready(self) -> None:
        from sms.inbound import register_keyword

        from . import checks  # noqa: F401 - registers the lifecycle policy check
        from .inbound import reply_no

        # The holder's "NO <ref>" in reply to a transfer notice stops the request.
        register_keyword("NO", reply_no)
        # verify_audit (audit, a floor below) checks the holding ledger through its registry.
        from audit.ledger import register_ledger_check

        from .ledger import verify_ledger

        register_ledger_check(verify_ledger)
