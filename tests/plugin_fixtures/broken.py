"""A plugin module that fails to import: its entry point must be reported, not raised."""
raise ImportError("this plugin is broken on purpose")
