package dropdir_test

import (
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

func TestDropdir(t *testing.T) {
	RegisterFailHandler(Fail)
	SetDefaultEventuallyTimeout(5 * time.Second)
	SetDefaultEventuallyPollingInterval(5 * time.Millisecond)
	SetDefaultConsistentlyDuration(150 * time.Millisecond)
	SetDefaultConsistentlyPollingInterval(10 * time.Millisecond)
	RunSpecs(t, "dropdir suite")
}
