#!/usr/bin/env bash
# Installs Debian's Chromium and its WebDriver for the browser test of the
# serving page, when they are missing. Needs root and Debian's package lists.
set -euo pipefail
if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then
    exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends chromium chromium-driver
