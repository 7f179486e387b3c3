"""The run protocol, written once over two small ports (see ``docs/running.md``, "The run protocol").

* :mod:`.store`: the ``FileStore`` port (list, exists, size, rename without overwrite, small
  files, delete, mkdirs) and its pure-Python local adapter; ``fs.HadoopFS`` is the Spark adapter.
* :mod:`.journal`: the durable publish intent (``<staging>/journal.json``) and the run marker.
* :mod:`.owners`: manifests, the record of files fabgen owns, and the never-destroy-rows rules.
* :mod:`.publish`: publishing a journal, and recovering an interrupted one (roll forward or back).
* :mod:`.lease`: lease and watermark compare-and-set decisions (pure; the Delta commits that
  apply them live in :mod:`fabgen_runtime.engines.spark.leases`).

Nothing here imports Spark: the Python-notebook engine reuses it with its own adapters.
"""
