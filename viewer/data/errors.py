"""Errors that carry their HTTP status; one handler per blueprint turns them into responses."""


class ViewerError(Exception):
    code = 400

    def __init__(self, message, code=None):
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class NotFound(ViewerError):
    code = 404


class BadRequest(ViewerError):
    code = 400
