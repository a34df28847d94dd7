// Package all links every backend into a program: importing it registers
// them with backends.Open and backends.DetectBackendIn. Adding a backend
// is its package plus one line here.
package all

import (
	_ "github.com/patchlet/patchlet/backends/apk"    // apk (Alpine)
	_ "github.com/patchlet/patchlet/backends/apt"    // apt (Debian, Ubuntu)
	_ "github.com/patchlet/patchlet/backends/dnf"    // dnf and yum (Fedora, RHEL)
	_ "github.com/patchlet/patchlet/backends/pacman" // pacman (Arch)
	_ "github.com/patchlet/patchlet/backends/zypper" // zypper (openSUSE, SLES)
)
