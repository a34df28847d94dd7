#!/bin/sh
# patchlet post-upgrade for arch (post_upgrade NEW OLD) and apk
# (post-upgrade NEW OLD): reload units and restart a running agent.
if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
	systemctl daemon-reload || true
	systemctl --no-block try-restart patchlet.service || true
fi
exit 0
