package testrepo_test

import (
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

func TestTestrepo(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "testrepo Suite")
}
