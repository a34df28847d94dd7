#!/bin/sh
# patchlet post-removal. Called as:
#   deb  postrm remove | purge | upgrade NEW | abort-* ...
#   rpm  %postun N                     (N=0 removal, N>=1 upgrade)
#   arch post_remove OLD, apk post-deinstall OLD  (removal only)
# The state directory (objects, audit log, step records) survives removal
# and is deleted only by a deb purge. Policy files in
# /etc/patchlet/policies.d and checks in /etc/patchlet/checks.d are the
# administrator's and are never deleted.
case "$1" in
upgrade | failed-upgrade | abort-* | [1-9] | [1-9][0-9]) exit 0 ;;
esac

if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
	systemctl daemon-reload || true
fi

if [ "$1" = purge ]; then
	rm -rf /var/lib/patchlet /run/patchlet
	rmdir /etc/patchlet/policies.d /etc/patchlet/checks.d /etc/patchlet 2>/dev/null || true
fi
exit 0
