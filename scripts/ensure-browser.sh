#!/usr/bin/env bash
# Make sure the browser the end-to-end tests drive is here: Debian's `chromium` package at
# /usr/bin/chromium (Playwright drives it with executable_path; it never downloads a browser
# of its own). Quick and silent when it is installed already. Without it, and without a way
# to install it, the browser tests skip with one line, and with CI=true this script fails.
set -u
CHROMIUM=/usr/bin/chromium
in_ci() { [ "${CI:-}" = "true" ]; }

if [ -x "$CHROMIUM" ]; then
  exit 0
fi

SUDO=""
if [ "$(id -u)" != "0" ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true >/dev/null 2>&1; then
    SUDO="sudo -n"
  fi
fi

if command -v apt-get >/dev/null 2>&1 && { [ "$(id -u)" = "0" ] || [ -n "$SUDO" ]; }; then
  echo "installing Debian's chromium for the browser tests (apt-get install chromium)"
  export DEBIAN_FRONTEND=noninteractive
  # Try the package lists already on the machine first; refresh them only if that fails.
  $SUDO apt-get install -y -q --no-install-recommends chromium >/dev/null \
    || { $SUDO apt-get update -q >/dev/null && $SUDO apt-get install -y -q --no-install-recommends chromium >/dev/null; }
fi

if [ -x "$CHROMIUM" ]; then
  exit 0
fi
if in_ci; then
  echo "error: CI=true but $CHROMIUM is missing and could not be installed (apt-get install chromium)" >&2
  exit 1
fi
echo "chromium not installed ($CHROMIUM); the browser tests will be skipped"
exit 0
