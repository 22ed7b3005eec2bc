"""skycrane-hil host runtime: link, devices, executive, verdict, CLI."""
__version__ = "0.1.0"
