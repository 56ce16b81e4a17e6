"""Helpers the Python test and bench scripts share (see emulators.py)."""
