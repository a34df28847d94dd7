#!/bin/sh
# patchlet pre-removal. Called as:
#   deb  prerm remove | upgrade NEW | deconfigure | failed-upgrade OLD
#   rpm  %preun N                      (N=0 removal, N>=1 upgrade)
#   arch pre_remove OLD, apk pre-deinstall OLD   (removal only)
# On removal (not on upgrade) the agent is stopped and disabled.
removal=yes
case "$1" in
upgrade | failed-upgrade | deconfigure | [1-9] | [1-9][0-9]) removal=no ;;
esac
[ "$removal" = yes ] || exit 0

if command -v systemctl >/dev/null 2>&1; then
	if [ -d /run/systemd/system ]; then
		systemctl stop patchlet.service || true
	fi
	systemctl disable patchlet.service >/dev/null 2>&1 || true
fi
exit 0
