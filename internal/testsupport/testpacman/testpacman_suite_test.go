package testpacman_test

import (
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

func TestTestpacman(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "testpacman")
}
