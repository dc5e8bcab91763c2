"""Command-line subcommands of the image modes (`python -m engine vary IMG`, ...)."""

from __future__ import annotations

import argparse

from ..api import ImageRequest


def add_commands(commands, common) -> None:
    """Registered by the image-modes work; each subcommand sets `args.command` to its name."""


def request(args: argparse.Namespace) -> ImageRequest:
    raise SystemExit(f"unknown command {args.command}")
