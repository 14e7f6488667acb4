package uplink

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"

	"github.com/edgesensor/edgesensor/userspace/export/cloudapi"
)

// statusError is an HTTP error answer from the cloud.
type statusError struct {
	op   string
	code int
	msg  string
}

func (e *statusError) Error() string {
	return fmt.Sprintf("%s: cloud answered %d: %s", e.op, e.code, e.msg)
}

// isPermanent: a 4xx other than 408 (timeout) and 429 (slow down) will not
// get better by sending the same request again.
func isPermanent(err error) bool {
	var se *statusError
	return errors.As(err, &se) && se.code >= 400 && se.code < 500 &&
		se.code != http.StatusRequestTimeout && se.code != http.StatusTooManyRequests
}

// call does one request and decodes a 200 answer into out (if not nil).
func (c *Client) call(ctx context.Context, method, path string, hdr http.Header, body io.Reader, out any) error {
	resp, op, err := c.do(ctx, method, path, hdr, body)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		err = fmt.Errorf("%s: reading answer: %w", op, err)
		c.setError(err)
		return err
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			err = fmt.Errorf("%s: bad answer: %w", op, err)
			c.setError(err)
			return err
		}
	}
	return nil
}

// do sends one request and returns a 2xx answer for the caller to read
// and close; any other status is a *statusError.
func (c *Client) do(ctx context.Context, method, path string, hdr http.Header, body io.Reader) (*http.Response, string, error) {
	p, query, _ := strings.Cut(path, "?")
	op := method + " " + p
	u := *c.base
	u.Path = strings.TrimSuffix(u.Path, "/") + p
	u.RawQuery = query
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return nil, op, fmt.Errorf("%s: %w", op, err)
	}
	// A fixed product name: Go's default would tell the cloud the
	// sensor's Go version, which it has no use for.
	req.Header.Set("User-Agent", UserAgent)
	for k, v := range hdr {
		req.Header[k] = v
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
		if method == http.MethodPut {
			req.Header.Set("Content-Type", "application/octet-stream")
		}
	}
	resp, err := c.http.Do(req)
	if err != nil {
		err = c.explain(op, err)
		c.setError(err)
		return nil, op, err
	}
	if resp.StatusCode/100 != 2 {
		defer resp.Body.Close()
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		var er cloudapi.ErrorResponse
		msg := strings.TrimSpace(string(data))
		if json.Unmarshal(data, &er) == nil && er.Error != "" {
			msg = er.Error
		}
		err := &statusError{op: op, code: resp.StatusCode, msg: msg}
		c.setError(err)
		return nil, op, err
	}
	return resp, op, nil
}

// explain turns TLS failures into messages that say which setting to check:
// Go's own wording ("remote error: tls: bad certificate") does not tell an
// operator that it is their client certificate the cloud refused.
func (c *Client) explain(op string, err error) error {
	var cve *tls.CertificateVerificationError
	var ua x509.UnknownAuthorityError
	var he x509.HostnameError
	var ci x509.CertificateInvalidError
	switch {
	case errors.As(err, &ua):
		return fmt.Errorf("%s: server certificate not signed by uplink.ca_file %s (wrong cloud, or interception): %w", op, c.o.CAFile, err)
	case errors.As(err, &he):
		return fmt.Errorf("%s: server certificate is not valid for %s (set uplink.server_name?): %w", op, he.Host, err)
	case errors.As(err, &ci):
		return fmt.Errorf("%s: server certificate invalid (expired or wrong usage): %w", op, err)
	case errors.As(err, &cve):
		return fmt.Errorf("%s: server certificate rejected: %w", op, err)
	}
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Op == "remote error" {
		switch alert := oe.Err.Error(); alert {
		case "tls: bad certificate", "tls: unknown certificate authority", "tls: certificate required",
			"tls: unsupported certificate", "tls: revoked certificate", "tls: expired certificate",
			"tls: unknown certificate", "tls: access denied":
			return fmt.Errorf("%s: the cloud refused our client certificate uplink.cert_file %s (%s): %w", op, c.o.CertFile, alert, err)
		case "tls: protocol version not supported":
			return fmt.Errorf("%s: the cloud does not speak TLS 1.3: %w", op, err)
		}
	}
	return fmt.Errorf("%s: %w", op, err)
}
