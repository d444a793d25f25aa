#!/bin/sh
# The console's browser tests drive Debian's Chromium (the `chromium` package), never a
# browser build downloaded by Playwright. Installs it when missing on Debian as root;
# anywhere else it stops with what to do (a missing browser is never a silent skip).
set -eu
CHROMIUM=/usr/bin/chromium
if [ -x "$CHROMIUM" ]; then
    exit 0
fi
if [ -f /etc/debian_version ] && [ "$(id -u)" = "0" ]; then
    echo "installing Debian's chromium package for the browser tests (apt-get) ..."
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends chromium >/dev/null
    if [ -x "$CHROMIUM" ]; then
        exit 0
    fi
    echo "error: apt-get installed chromium but $CHROMIUM is still missing" >&2
    exit 1
fi
echo "error: the browser tests need Chromium at $CHROMIUM (Debian's 'chromium' package)." >&2
echo "       On Debian, run 'make install' as root, or 'sudo apt-get install chromium';" >&2
echo "       elsewhere install Chromium and link it to $CHROMIUM." >&2
exit 1
