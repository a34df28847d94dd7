package main

import (
	"os/exec"
	"path/filepath"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/patchlet/patchlet/backends/apt"
)

var _ = Describe("generated status databases", func() {
	It("hold exactly the requested number of installed packages for patchlet's parser", func() {
		db := apt.ParseStatus(StatusDB(1000), "amd64")
		Expect(db.Installed).To(HaveLen(1000))
		Expect(db.Installed).To(HaveKey("gen-package-00999"))
		Expect(db.Interrupted).To(BeEmpty())
	})

	It("are read by dpkg-query --admindir as the same packages and versions", Label("integration"), func() {
		if _, err := exec.LookPath("dpkg-query"); err != nil {
			Skip("dpkg-query not installed")
		}
		dir := filepath.Join(GinkgoT().TempDir(), "admin")
		Expect(writeAdmindir(dir, 300)).To(Succeed())
		out, err := exec.Command("dpkg-query", "--admindir="+dir, "-W", "-f=${Package} ${Version}\n").Output()
		Expect(err).NotTo(HaveOccurred())
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		Expect(lines).To(HaveLen(300))
		db := apt.ParseStatus(StatusDB(300), "amd64")
		for _, l := range lines {
			name, version, _ := strings.Cut(l, " ")
			Expect(db.Installed).To(HaveKey(name))
			Expect(db.Installed[name].Version).To(Equal(version), name)
		}
	})
})
