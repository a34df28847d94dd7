// Package packages owns the build of patchlet's deb, rpm, archlinux and
// apk packages (build.sh, driven by `make packages`, with nfpm and
// packaging/nfpm.yaml) and their tests: the packages are installed,
// upgraded and removed with the real dpkg, rpm and pacman in isolated
// root directories, never on the host.
package packages
