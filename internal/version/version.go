// Package version holds the build's version, set by the linker
// (-X github.com/patchlet/patchlet/internal/version.Version=…).
package version

import (
	"runtime"

	"k8s.io/apimachinery/pkg/version"
)

// Version of patchlet; "dev" for a build without -ldflags.
var Version = "dev"

// Info is what /version reports. Major/Minor claim Kubernetes 1.32 so that
// the kubectl dispatcher runs its 1.32 client against the agent.
func Info() version.Info {
	return version.Info{
		Major:      "1",
		Minor:      "32",
		GitVersion: "v1.32.0-patchlet+" + Version,
		GoVersion:  runtime.Version(),
		Compiler:   runtime.Compiler,
		Platform:   runtime.GOOS + "/" + runtime.GOARCH,
	}
}
