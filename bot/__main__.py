"""`python -m bot`: the settings are checked first, so that a missing token is one clear line before torch loads."""

import sys

from bot.config import StartupError, settings_or_explain


def main() -> int:
    try:
        settings_or_explain()
    except StartupError as error:
        print(f"easel: {error}", file=sys.stderr)
        return 2
    from bot.app import main as run_bot

    return run_bot()


raise SystemExit(main())
