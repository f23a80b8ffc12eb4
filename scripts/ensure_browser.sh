#!/usr/bin/env bash
# Make sure Debian's Chromium and a Chinese font are installed for the browser
# tests (tests/browser, Playwright driving /usr/bin/chromium).
#
# Playwright's own browser download ("playwright install") is never used: the
# machines reach Debian's package archive, not browser download hosts, and
# Debian's build gets security updates with the rest of the system.
# fonts-wqy-zenhei: without a CJK font, screenshots show boxes instead of 汉字.
#
# Idempotent: installs only what is missing. Needs root (or sudo) for apt-get.
set -euo pipefail

need=()
[[ -x /usr/bin/chromium ]] || need+=(chromium)
dpkg-query -W -f='${Status}' fonts-wqy-zenhei 2>/dev/null | grep -q "install ok installed" || need+=(fonts-wqy-zenhei)

if ((${#need[@]} == 0)); then
    echo "ensure_browser: chromium and fonts-wqy-zenhei present ($(/usr/bin/chromium --version 2>/dev/null || echo chromium))"
    exit 0
fi

SUDO=()
if [[ $(id -u) -ne 0 ]]; then
    command -v sudo >/dev/null || { echo "ensure_browser: need root to install ${need[*]}" >&2; exit 1; }
    SUDO=(sudo -n)
fi

echo "ensure_browser: installing ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update -q
"${SUDO[@]}" apt-get install -y -q --no-install-recommends "${need[@]}"
/usr/bin/chromium --version
