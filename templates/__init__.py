"""fabgen's Jinja templates (packaged as ``fabgen.templates``)."""
