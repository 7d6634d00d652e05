from celery import shared_task


@shared_task(name="backoffice.ping")
def ping(payload: str) -> str:
    """Round trip used by health checks and the broker test: proves a worker answers."""
    return f"pong:{payload}"
