"""What a test of the Mini App needs to act as Telegram: signed initData for a fake user, a stand-in for
telegram-web-app.js (served in place of Telegram's own, which these machines cannot reach), and a browser.

`init_data` signs exactly as Telegram does (https://core.telegram.org/bots/webapps#validating-data-received-via-
the-web-app): HMAC-SHA256 over the sorted fields, keyed by HMAC("WebAppData", bot token).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import shutil
import time
from pathlib import Path
from urllib.parse import quote, urlencode

import pytest

HERE = Path(__file__).resolve().parent
ARTIFACTS = HERE.parent / "artifacts"  # git-ignored: screenshots a person looks at
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
TELEGRAM_JS = "https://telegram.org/js/telegram-web-app.js"
PHONE = {"width": 390, "height": 844}
# Telegram's own dark theme, as it passes it to a Mini App.
DARK_THEME = {
    "bg_color": "#17212b",
    "secondary_bg_color": "#232e3c",
    "text_color": "#f5f5f5",
    "hint_color": "#708499",
    "link_color": "#6ab3f3",
    "button_color": "#5288c1",
    "button_text_color": "#ffffff",
    "destructive_text_color": "#ec3942",
}


def init_data(token: str, user: dict, auth_date: int | None = None, *, forge: bool = False) -> str:
    fields = {
        "auth_date": str(int(time.time()) if auth_date is None else auth_date),
        "query_id": "AAHdF6IQAAAAAN0XohDhrOrc",
        "user": json.dumps(user, separators=(",", ":"), ensure_ascii=False),
    }
    check = "\n".join(f"{key}={value}" for key, value in sorted(fields.items()))
    key = b"0:forged" if forge else token.encode()  # forged: signed with another token, all a forger can do
    secret = hmac.new(b"WebAppData", key, hashlib.sha256).digest()
    digest = hmac.new(secret, check.encode(), hashlib.sha256).hexdigest()
    return urlencode({**fields, "hash": digest})


def telegram_url(url: str, data: str, theme: dict | None = None) -> str:
    """The address as Telegram opens it: the launch parameters in the fragment."""
    fragment = {"tgWebAppData": data, "tgWebAppVersion": "8.0", "tgWebAppPlatform": "ios"}
    if theme is not None:
        fragment["tgWebAppThemeParams"] = json.dumps(theme)
    return url + "#" + urlencode(fragment, quote_via=quote)


def stub_script() -> str:
    return (HERE / "telegram_stub.js").read_text()


def browser_available() -> pytest.MarkDecorator:
    try:
        import playwright  # noqa: F401
    except ImportError:
        return pytest.mark.skip(reason="playwright is not installed (pip install playwright; ./run.sh install)")
    return pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed")
