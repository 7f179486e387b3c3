"""fabgen's runtime: what rendered notebooks call, on Fabric and locally.

The public API follows the export framework spec: :class:`ConfigExportManager`,
:class:`ExportLogger`, :class:`ExportOrchestrator` (``process_exports``), plus the config
model and the error hierarchy.
"""

from . import catalog as catalog
from .config import ExportConfig
from .configs import parse_config, parse_configs
from .engines.spark.manager import ConfigExportManager
from .errors import (
    CompressionError,
    ConfigError,
    ConfigIssue,
    ExportError,
    FabgenError,
    PathError,
    PlaceholderError,
    PlatformError,
    PublishError,
    SourceReadError,
    StateError,
    WriteError,
)
from .export_logger import ExportLogger
from .orchestrator import ExportOrchestrator

__version__ = "0.1.0"

__all__ = [
    "CompressionError",
    "ConfigError",
    "ConfigExportManager",
    "ConfigIssue",
    "ExportConfig",
    "ExportError",
    "ExportLogger",
    "ExportOrchestrator",
    "FabgenError",
    "PathError",
    "PlaceholderError",
    "PlatformError",
    "PublishError",
    "SourceReadError",
    "StateError",
    "WriteError",
    "__version__",
    "parse_config",
    "parse_configs",
]
