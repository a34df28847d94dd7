package toolkit_test

import (
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

func TestToolkit(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "backends/internal/toolkit")
}
