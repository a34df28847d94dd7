#!/bin/sh
# patchlet post-install. Called as:
#   deb  postinst configure [OLD-VERSION]   (OLD-VERSION set on upgrade)
#   rpm  %post N                            (N=1 install, N>=2 upgrade)
#   arch post_install NEW, apk post-install NEW   (fresh install only;
#        upgrades run postupgrade.sh)
# The service is never enabled or started here: an agent that changes
# packages should start only once an administrator configured it.
# On upgrade an already running agent is restarted so that the new
# binary runs; a step it was running lives in its own unit and goes on.
set -e

upgrade=no
case "$1" in
configure) [ -n "$2" ] && upgrade=yes ;;
[2-9] | [1-9][0-9]) upgrade=yes ;;
esac

if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
	systemctl daemon-reload || true
	if [ "$upgrade" = yes ]; then
		systemctl --no-block try-restart patchlet.service || true
	fi
fi

if [ "$upgrade" = no ]; then
	echo "patchlet installed but not enabled: review /etc/patchlet/config.yaml, then run: systemctl enable --now patchlet"
fi
exit 0
