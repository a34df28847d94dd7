// Command demorepo builds the demo's local apt repository: a few small
// packages that show what patchlet does (a pinned install, an upgrade that
// keeps a locally edited conffile, a package that requires a reboot).
//
//	go run ./hack/demorepo -out DIR
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/patchlet/patchlet/internal/testsupport/testrepo"
)

func main() {
	out := flag.String("out", "", "directory of the repository (created)")
	flag.Parse()
	if *out == "" {
		fmt.Fprintln(os.Stderr, "usage: demorepo -out DIR")
		os.Exit(2)
	}
	if err := build(*out); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

// Packages of the demo; the demo script installs the *Old ones first.
var (
	HelloOld = testrepo.Package{Name: "demo-hello", Version: "1.0-1", Files: map[string]string{"/usr/share/demo-hello/version": "1.0\n"}}
	HelloNew = testrepo.Package{Name: "demo-hello", Version: "2.0-1", Files: map[string]string{"/usr/share/demo-hello/version": "2.0\n"}}
	ConfOld  = testrepo.Package{Name: "demo-conf", Version: "1.0-1", Conffiles: map[string]string{"/etc/demo-conf.conf": "# demo-conf 1.0\nlisten = 80\n"}}
	ConfNew  = testrepo.Package{Name: "demo-conf", Version: "1.1-1", Conffiles: map[string]string{"/etc/demo-conf.conf": "# demo-conf 1.1\nlisten = 8080\n"}}
	KernOld  = testrepo.Package{Name: "demo-kernel", Version: "6.1.0-1", Files: map[string]string{"/boot/demo-kernel-6.1.0-1": "old\n"}}
	KernNew  = testrepo.Package{Name: "demo-kernel", Version: "6.1.0-2", Files: map[string]string{"/boot/demo-kernel-6.1.0-2": "new\n"}, RebootRequired: true}
)

func build(out string) error {
	b, err := testrepo.NewBuilder(filepath.Join(out, "debs"))
	if err != nil {
		return err
	}
	repo, err := testrepo.NewRepo(filepath.Join(out, "repo"), testrepo.Release{Origin: "patchlet-demo", Label: "patchlet-demo", Suite: "stable", Codename: "demo"})
	if err != nil {
		return err
	}
	for _, p := range []testrepo.Package{HelloOld, HelloNew, ConfOld, ConfNew, KernOld, KernNew} {
		deb, err := b.Build(p)
		if err != nil {
			return err
		}
		if err := repo.Add(deb); err != nil {
			return err
		}
	}
	if err := repo.Publish(); err != nil {
		return err
	}
	fmt.Println(repo.SourcesLine())
	return nil
}
