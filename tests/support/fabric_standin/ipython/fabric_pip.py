"""IPython startup file for the Fabric stand-in: ``%pip`` as Fabric's in-line install behaves (tests only).

Microsoft's library management docs say an in-line ``%pip install`` restarts the Python interpreter, so
variables defined before it are lost. Here ``%pip`` records its arguments in
``FABRIC_STANDIN_PIP_LOG`` (one line per call) and then clears the user namespace (``%reset -f``),
which models that loss; it installs nothing. Copied by the tests into
``$IPYTHONDIR/profile_default/startup/``.
"""

import os

from IPython import get_ipython
from IPython.core.magic import register_line_magic


@register_line_magic("pip")
def _fabric_pip(line: str) -> None:
    log = os.environ.get("FABRIC_STANDIN_PIP_LOG")
    if log:
        with open(log, "a", encoding="utf-8") as handle:
            handle.write(line + "\n")
    get_ipython().run_line_magic("reset", "-f")  # Fabric restarts the interpreter after %pip


del _fabric_pip
