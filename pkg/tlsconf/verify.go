package tlsconf

import (
	"crypto/x509"
	"errors"
	"fmt"
	"time"
)

// Verifier checks certificate chains a peer presents against a CA bundle
// that is read again when its file changes. It is safe for concurrent
// use.
type Verifier struct{ ca *caPool }

// NewVerifier loads the CA bundle in file.
func NewVerifier(file string) (*Verifier, error) {
	ca, err := newCAPool(file)
	if err != nil {
		return nil, err
	}
	return &Verifier{ca: ca}, nil
}

// Reasons a peer's certificate is refused (PeerError.Reason).
const (
	ReasonNoCertificate    = "no certificate"
	ReasonExpired          = "expired"
	ReasonNotYetValid      = "not yet valid"
	ReasonUnknownAuthority = "unknown authority"
	ReasonWrongUsage       = "wrong key usage"
	ReasonInvalid          = "invalid"
	ReasonNotAuthorized    = "not authorized"
)

// PeerError is a refused peer certificate: a short reason, fit for a
// metric label, and a message naming the certificate.
type PeerError struct {
	Reason  string
	Subject string // "CN=..." of the leaf; empty without one
	Err     error
}

func (e *PeerError) Error() string {
	if e.Subject == "" {
		return e.Err.Error()
	}
	return fmt.Sprintf("certificate %s: %v", e.Subject, e.Err)
}

func (e *PeerError) Unwrap() error { return e.Err }

// Verify checks chain (the leaf first, then any intermediates, as a peer
// presents them) against the bundle for usage at now, and returns the
// leaf. A refusal is a *PeerError.
func (v *Verifier) Verify(chain []*x509.Certificate, usage x509.ExtKeyUsage, now time.Time) (*x509.Certificate, error) {
	if len(chain) == 0 {
		return nil, &PeerError{Reason: ReasonNoCertificate, Err: errors.New("no certificate presented")}
	}
	leaf := chain[0]
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	_, err := leaf.Verify(x509.VerifyOptions{Roots: v.ca.get(), Intermediates: inter, CurrentTime: now,
		KeyUsages: []x509.ExtKeyUsage{usage}})
	if err == nil {
		return leaf, nil
	}
	pe := &PeerError{Reason: ReasonInvalid, Subject: Subject(leaf), Err: err}
	var inv x509.CertificateInvalidError
	var ua x509.UnknownAuthorityError
	switch {
	case errors.As(err, &inv) && inv.Reason == x509.Expired:
		if now.Before(leaf.NotBefore) {
			pe.Reason, pe.Err = ReasonNotYetValid, fmt.Errorf("not valid before %s (%w)", leaf.NotBefore.UTC().Format(time.RFC3339), err)
		} else {
			pe.Reason, pe.Err = ReasonExpired, fmt.Errorf("expired at %s (%w)", leaf.NotAfter.UTC().Format(time.RFC3339), err)
		}
	case errors.As(err, &inv) && inv.Reason == x509.IncompatibleUsage:
		pe.Reason = ReasonWrongUsage
	case errors.As(err, &ua):
		pe.Reason, pe.Err = ReasonUnknownAuthority, fmt.Errorf("not signed by a CA this side trusts (%w)", err)
	}
	return nil, pe
}

// Subject names a certificate in messages: "CN=" and its common name.
func Subject(c *x509.Certificate) string { return "CN=" + c.Subject.CommonName }
