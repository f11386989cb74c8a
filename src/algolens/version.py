"""The package version, on the ground floor: the run config records it, and every floor may
read it without importing the package root."""

__version__ = "0.2.0"
