"""soc2-audit-metrics control-node package."""

__version__ = "0.1.0"
