"""Shim package for ``oslo_messaging._metrics`` (see ../README.md)."""
