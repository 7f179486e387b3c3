"""fabgen: generate, run and deploy config-driven file exports for Microsoft Fabric."""

__version__ = "0.1.0"
