"""Inline keyboards: callback data factories (callbacks.py) and one builder per screen."""
