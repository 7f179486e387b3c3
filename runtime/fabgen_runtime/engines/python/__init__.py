"""The Python engine's data path: Delta reads with delta-rs and file writes with pyarrow, no Spark.

:func:`.read.read` streams a lakehouse table as a ``pyarrow.RecordBatchReader``;
:func:`.write.write` writes it into the run's staging folder as the files the plan names and
returns the :class:`~fabgen_runtime.writer.StagedOutput` the Spark writer returns, so the run
protocol publishes it unchanged (over :class:`~fabgen_runtime.protocol.store.LocalFileStore`).

Nothing here imports pyspark; ``deltalake`` and ``pyarrow`` (preinstalled in Fabric Python
notebooks) are imported only inside this package, which nothing else in the runtime imports.
"""
