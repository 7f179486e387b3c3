"""The Python engine: exports without Spark or a JVM (Fabric's Python notebooks, and locally).

:class:`.state.PythonExportLogger` (``ExportLogger(..., engine="python")``: the state tables through
delta-rs, :mod:`.tables`) handed to
:class:`fabgen_runtime.ExportOrchestrator` runs a group on :class:`.engine.PythonEngine`:
:func:`.read.read` streams a lakehouse table (delta-rs) and :func:`.warehouse.read` a warehouse
table (pyodbc) as a ``pyarrow.RecordBatchReader``; :func:`.write.write` writes it into the run's
staging folder as the files the plan names and returns the
:class:`~fabgen_runtime.engines.spark.writer.StagedOutput` the Spark writer returns, so the one run protocol
publishes it unchanged (over :class:`~fabgen_runtime.protocol.store.LocalFileStore`).
:mod:`.support` says what the engine cannot honour, for ``fabgen validate``.

Nothing here imports pyspark; ``deltalake`` and ``pyarrow`` (preinstalled in Fabric Python
notebooks) are imported only inside this package, which the rest of the runtime imports for type
hints only.
"""
