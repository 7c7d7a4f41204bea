"""news-monitor: a scheduled news-monitoring daemon."""

__version__ = "0.1.0"
