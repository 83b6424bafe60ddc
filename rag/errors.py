"""Errors a user can act on. The CLI and UI print ``str(error)``, never a traceback."""


class RagError(Exception):
    """Base class: the message is meant for the user and names what to do."""


class ConfigError(RagError):
    """A setting or flag has a value the product cannot use."""


class InputError(RagError):
    """A question, file or path given by the user cannot be used."""


class IndexNotFoundError(RagError):
    """There is no index where the user pointed (run ``rag ingest`` first)."""


class EmbeddingMismatchError(RagError):
    """The index was built with another embedding model than the one configured."""


class StoreUnavailableError(RagError):
    """The Chroma server cannot be reached."""


class IndexBusyError(RagError):
    """Another process is writing to the same index."""


class LLMError(RagError):
    """The LLM server failed, refused the key, or timed out."""


class IndexFormatError(RagError):
    """The index was written by a version of rag with another storage layout."""


class IndexDamagedError(RagError):
    """The index's files are damaged (not a database, truncated): it is left as it is."""


class IndexNotWritableError(RagError):
    """The index folder cannot be written by this user (permissions, a read-only file system)."""


class DiskFullError(RagError):
    """The file system holding the index is (nearly) full."""
