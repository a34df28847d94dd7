// Package logging builds the agent's logr.Logger on zap: JSON when stderr
// is not a terminal, console otherwise, with -v levels.
package logging

import (
	"os"

	"github.com/go-logr/logr"
	"github.com/go-logr/zapr"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"golang.org/x/term"
)

// New returns a logger writing to stderr. format is auto, json or console;
// verbosity 0 logs Info, 1 adds V(1), 2 adds V(2).
func New(format string, verbosity int) (logr.Logger, func()) {
	if format == "auto" {
		format = "json"
		if term.IsTerminal(int(os.Stderr.Fd())) {
			format = "console"
		}
	}
	var enc zapcore.Encoder
	if format == "console" {
		ec := zap.NewDevelopmentEncoderConfig()
		ec.EncodeTime = zapcore.ISO8601TimeEncoder
		enc = zapcore.NewConsoleEncoder(ec)
	} else {
		ec := zap.NewProductionEncoderConfig()
		ec.EncodeTime = zapcore.RFC3339NanoTimeEncoder
		ec.TimeKey = "ts"
		enc = zapcore.NewJSONEncoder(ec)
	}
	level := zap.NewAtomicLevelAt(zapcore.Level(-verbosity))
	core := zapcore.NewCore(enc, zapcore.Lock(os.Stderr), level)
	zl := zap.New(core, zap.AddCaller())
	return zapr.NewLogger(zl), func() { _ = zl.Sync() }
}
