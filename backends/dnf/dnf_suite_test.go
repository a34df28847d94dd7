package dnf_test

import (
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

func TestDNF(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "dnf")
}
