"""Engines that run an export's data path: Spark (the modules one level up) and :mod:`.python`."""
