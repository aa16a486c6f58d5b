package proff

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"testing"
)

// TLS failures are told by their type, never by their text: an error that only says "tls:" or "x509:" is a
// connection failure (retried), a typed one is a TLS failure (final), however it is worded or wrapped.
func TestTLSErrorsByType(t *testing.T) {
	t.Parallel()
	for name, err := range map[string]error{
		"unknown authority": fmt.Errorf("Get: %w", x509.UnknownAuthorityError{}),
		"verification":      &tls.CertificateVerificationError{Err: errors.New("expired")},
		"hostname":          x509.HostnameError{Host: "proff.example"},
		"invalid":           x509.CertificateInvalidError{Reason: x509.Expired},
		"record header":     fmt.Errorf("handshake: %w", tls.RecordHeaderError{Msg: "first record does not look like a TLS handshake"}),
		"alert":             tls.AlertError(70),
		"remote alert":      &net.OpError{Op: "remote error", Err: errors.New("protocol version not supported")},
	} {
		if c := errClass(err); c != classTLS {
			t.Errorf("%s: %q, want %q", name, c, classTLS)
		}
	}
	for name, err := range map[string]error{
		"text tls:":  errors.New("dial: tls: something that is no TLS error"),
		"text x509:": errors.New("proxy says x509: nothing"),
		"dial":       &net.OpError{Op: "dial", Err: errors.New("connection refused")},
	} {
		if c := errClass(err); c != "connection failed" {
			t.Errorf("%s: %q, want a connection failure", name, c)
		}
	}
}
