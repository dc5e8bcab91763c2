"""`python -m bot`: the Telegram bot with the engine in this process (see bot/app.py)."""

from .app import main

raise SystemExit(main())
