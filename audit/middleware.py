from audit import context


class RequestIdMiddleware:
    """Every change a request makes shares one id, echoed in the X-Request-ID header."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        with context.request_scope(context.new_request_id()) as request_id:
            request.request_id = request_id
            response = self.get_response(request)
        response["X-Request-ID"] = request_id
        return response
