"""Shim package for ``oslo_messaging._drivers`` (see ../README.md)."""
