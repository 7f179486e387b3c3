"""A stand-in for Microsoft Fabric's ``notebookutils`` (tests only; see README.md beside this package).

Signatures follow Microsoft's "NotebookUtils (former MSSparkUtils) for Fabric" page,
https://learn.microsoft.com/fabric/data-engineering/notebook-utilities (file system, notebook,
credentials and runtime utilities). Only what fabgen calls is here.
"""

from . import credentials, fs, notebook, runtime

__all__ = ["credentials", "fs", "notebook", "runtime"]
