package apk_test

import (
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

func TestApk(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "backends/apk")
}
