"""User-facing errors: anything a user can fix. The CLI prints their message in one line, no traceback."""


class UserError(Exception):
    pass
