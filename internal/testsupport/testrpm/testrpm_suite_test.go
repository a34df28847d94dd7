package testrpm_test

import (
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

func TestTestrpm(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "testrpm")
}
