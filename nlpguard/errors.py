"""Exceptions nlpguard raises on purpose; each message names the thing at fault."""


class NlpguardError(Exception):
    """Base class: a problem the user can fix, reported without a traceback by the CLI."""


class ModelError(NlpguardError):
    """A model name or directory that cannot be used (missing, corrupt, wrong task)."""


class DataError(NlpguardError):
    """A labelled data file that breaks the data format (names file and line)."""


class FetchError(NlpguardError):
    """A pretrained backbone that could not be downloaded, verified or converted."""


class UsageError(NlpguardError):
    """A problem with the command line (an option, a missing file); the CLI exits 2 with one line on stderr."""


class DocumentError(NlpguardError):
    """A document that cannot be read; the message says why."""
