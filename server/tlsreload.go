package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/go-logr/logr"
)

// tlsState is one loaded generation of the TLS files.
type tlsState struct {
	cfg       *tls.Config
	clientCAs *x509.CertPool
}

// tlsSource loads the certificate, key and client CA and hands the newest
// to every handshake (tls.Config.GetConfigForClient), so that they can be
// replaced without closing the listener.
type tlsSource struct {
	cert, key, clientCA string

	mu    sync.RWMutex
	state *tlsState
	gen   uint64
}

// tlsListener is the listener of a TLS address.
type tlsListener struct {
	net.Listener
	src *tlsSource
}

// Reload implements Reloader.
func (l *tlsListener) Reload() error { return l.src.Reload() }

// current returns the loaded state and its generation.
func (s *tlsSource) current() (*tlsState, uint64) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.state, s.gen
}

// config is the listener's tls.Config: every handshake asks for the newest.
func (s *tlsSource) config() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		NextProtos: []string{"h2", "http/1.1"},
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			st, _ := s.current()
			return st.cfg, nil
		},
	}
}

// Reload reads the files; on an error the loaded state stays.
func (s *tlsSource) Reload() error {
	cert, err := tls.LoadX509KeyPair(s.cert, s.key)
	if err != nil {
		return fmt.Errorf("--tls-cert %q, --tls-key %q: %w", s.cert, s.key, err)
	}
	cfg := &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{cert},
		NextProtos:   []string{"h2", "http/1.1"},
		// A resumed session skips the client certificate check against
		// the client CA as it is now; a reloaded CA must apply to the next
		// connection.
		SessionTicketsDisabled: true,
	}
	var pool *x509.CertPool
	if s.clientCA != "" {
		pem, err := os.ReadFile(s.clientCA)
		if err != nil {
			return fmt.Errorf("--client-ca: %w", err)
		}
		pool = x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return fmt.Errorf("--client-ca %q: no PEM certificate found", s.clientCA)
		}
		// Ask for a certificate but verify it per request (resolveIdentity),
		// so that a missing, expired or foreign one is a 401 saying why.
		cfg.ClientAuth = tls.RequestClientCert
	}
	s.mu.Lock()
	s.state = &tlsState{cfg: cfg, clientCAs: pool}
	s.gen++
	s.mu.Unlock()
	return nil
}

// files are the paths watched for changes.
func (s *tlsSource) files() []string {
	out := []string{s.cert, s.key}
	if s.clientCA != "" {
		out = append(out, s.clientCA)
	}
	return out
}

// reloadDebounce gathers the events of one replacement of the files.
const reloadDebounce = 100 * time.Millisecond

// watch reloads on SIGHUP and when a file changes, until ctx ends. It
// watches the directories, not the files: an editor or a secret manager
// replaces a file by renaming another over it.
func (s *tlsSource) watch(ctx context.Context, log logr.Logger) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	w, err := fsnotify.NewWatcher()
	if err != nil {
		log.Error(err, "cannot watch the tls files; reload them with SIGHUP")
		w = nil
	}
	var events <-chan fsnotify.Event
	var errs <-chan error
	if w != nil {
		defer w.Close()
		dirs := map[string]bool{}
		for _, f := range s.files() {
			dirs[filepath.Dir(f)] = true
		}
		for d := range dirs {
			if err := w.Add(d); err != nil {
				log.Error(err, "cannot watch a tls directory; reload with SIGHUP", "dir", d)
			}
		}
		events, errs = w.Events, w.Errors
	}
	watched := map[string]bool{}
	for _, f := range s.files() {
		watched[filepath.Clean(f)] = true
	}
	reload := func(why string) {
		if err := s.Reload(); err != nil {
			log.Error(err, "reloading the tls files failed; keeping the ones loaded", "trigger", why)
			return
		}
		log.Info("reloaded the tls files", "trigger", why)
	}
	var timer <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			reload("SIGHUP")
		case ev := <-events:
			// Kubernetes secret volumes swap a ..data symlink.
			if watched[filepath.Clean(ev.Name)] || filepath.Base(ev.Name) == "..data" {
				timer = time.After(reloadDebounce)
			}
		case err := <-errs:
			log.Error(err, "watching the tls files")
		case <-timer:
			timer = nil
			reload("file change")
		}
	}
}
