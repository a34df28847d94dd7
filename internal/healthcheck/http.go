package healthcheck

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/patchlet/patchlet/api/v1alpha1"
)

// httpGet probes g's URL once: no proxy from the environment, no
// keep-alive, no redirect followed (a 3xx answer passes), the server's
// certificate verified unless the policy says otherwise.
func (c *Checker) httpGet(ctx context.Context, g *v1alpha1.HTTPGetCheck, timeout time.Duration) (bool, string) {
	u, err := url.Parse(g.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" || u.User != nil ||
		len(g.URL) > v1alpha1.MaxCheckURLLength {
		return false, "httpGet check refused: the URL must be an http or https URL naming a host, without credentials"
	}
	shown := u.String()
	tr := &http.Transport{
		Proxy:                  nil,
		DisableKeepAlives:      true,
		DialContext:            (&net.Dialer{Timeout: timeout}).DialContext,
		TLSHandshakeTimeout:    timeout,
		ResponseHeaderTimeout:  timeout,
		MaxResponseHeaderBytes: 64 << 10,
		// The operator asked for it, for a local service with a
		// self-signed certificate.
		TLSClientConfig: &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: g.InsecureSkipTLSVerify}, //nolint:gosec
	}
	defer tr.CloseIdleConnections()
	client := &http.Client{
		Transport:     tr,
		Timeout:       timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, shown, nil)
	if err != nil {
		return false, fmt.Sprintf("GET %s: %v", shown, err)
	}
	req.Header.Set("User-Agent", "patchlet-healthcheck")
	resp, err := client.Do(req)
	if err != nil {
		var ne net.Error
		if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
			return false, fmt.Sprintf("GET %s: no answer within %s", shown, timeout)
		}
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return false, fmt.Sprintf("GET %s: %v", shown, err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, bodyDrain))
	_ = resp.Body.Close()
	passed := resp.StatusCode >= 200 && resp.StatusCode < 400
	verdict := "failed"
	if passed {
		verdict = "passed"
	}
	return passed, fmt.Sprintf("GET %s %s: %s", shown, verdict, resp.Status)
}
