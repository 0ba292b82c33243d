"""The errors a request can meet, each with the HTTP status the server answers
with; the app turns every one into a JSON body `{"error": message}`, the
form the Open Inference Protocol uses, and goes on serving."""


class RequestError(ValueError):
    """A request the server refuses, with the HTTP status to answer.

    Args:
        status: the HTTP status code, e.g. 400.
        message: what is wrong, with the value received and the fix.

    Example:
    ```python
    from densenet_hub.serving.errors import RequestError

    error = RequestError(400, "the input 'images' has datatype 'INT64'; send UINT8 or FP32")
    assert error.status == 400 and "INT64" in str(error)
    ```
    """

    def __init__(self, status, message):
        super().__init__(message)
        self.status = status


def bad_request(message):
    """A `RequestError` with status 400: the request itself is malformed."""
    return RequestError(400, message)


def too_large(message):
    """A `RequestError` with status 413: over the body or pixel cap."""
    return RequestError(413, message)


def busy(message):
    """A `RequestError` with status 503: full queue or shutting down; the
    client may retry later."""
    return RequestError(503, message)


def timed_out(message):
    """A `RequestError` with status 504: not answered within the timeout."""
    return RequestError(504, message)
