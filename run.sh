#!/usr/bin/env bash
# Easel's one entry point.  ./run.sh [bot|demo|test|check|install]
#   bot   (default) install if needed, then run the Telegram bot (needs BOT_TOKEN, e.g. in .env)
#   demo  install if needed, then make 4 pictures offline with the tiny model kit into out/
#   test  install if needed, start nothing by hand (tests start their own redis-server), run the suite
#   check install if needed, then the team's static checks: ruff (lint and format) and mypy
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-python3}
VENV=.venv

install() {
  if ! command -v redis-server >/dev/null 2>&1; then
    echo "installing redis-server (Debian package)"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
  fi
  # The Mini App's browser test drives Debian's chromium with Playwright (which never downloads a browser).
  if ! command -v chromium >/dev/null 2>&1; then
    echo "installing chromium (Debian package)"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  fi
  export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
  [ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
  local stamp="$VENV/.easel-installed" want
  want=$(cat pyproject.toml constraints-cpu.txt | sha256sum | cut -c1-16)
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then return; fi
  "$VENV/bin/pip" install -q --upgrade pip
  if command -v nvidia-smi >/dev/null 2>&1 && [ "${EASEL_CPU:-0}" != 1 ]; then
    "$VENV/bin/pip" install -q -e ".[gpu,dev]"          # CUDA torch from PyPI, spandrel for upscalers
  else
    # CPU: the pinned CPU wheel first; an unpinned torch would pull gigabytes of CUDA packages.
    "$VENV/bin/pip" install -q torch==2.13.0
    "$VENV/bin/pip" install -q -c constraints-cpu.txt -e ".[dev]"
  fi
  echo "$want" > "$stamp"
}

case "${1:-bot}" in
  install) install ;;
  bot) install; exec "$VENV/bin/python" -m bot ;;
  demo)
    install
    ENGINE_MODEL=${ENGINE_MODEL:-tiny} HF_HUB_OFFLINE=1 exec "$VENV/bin/python" -m engine generate \
      "${2:-a red fox in a snowy forest}" -n 4 --out out/ ;;
  test)
    install
    shift
    # Two workers (pytest-xdist), a test file each: the e2e tests spend much of their time waiting on a bot process.
    HF_HUB_OFFLINE=1 exec "$VENV/bin/python" -m pytest -q -n "${TEST_WORKERS:-2}" --dist loadfile "$@" ;;
  check)
    install
    "$VENV/bin/ruff" check .
    "$VENV/bin/ruff" format --check .
    "$VENV/bin/mypy" ;;
  *) echo "usage: ./run.sh [bot|demo|test|check|install]" >&2; exit 2 ;;
esac
