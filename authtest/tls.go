package authtest

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"time"
)

// EntraHostNames are the host names a TLS server's certificate covers
// besides the loopback addresses and names given with [WithHostNames]:
// Entra's login hosts in every cloud, the regional hosts, Microsoft Graph
// in every cloud, and Azure AD B2C and Entra External ID hosts.
var EntraHostNames = []string{
	"localhost",
	"login.microsoftonline.com",
	"login.microsoft.com",
	"login.windows.net",
	"sts.windows.net",
	"*.login.microsoft.com",
	"login.microsoftonline.us",
	"login.usgovcloudapi.net",
	"*.login.microsoftonline.us",
	"login.chinacloudapi.cn",
	"login.partner.microsoftonline.cn",
	"*.login.partner.microsoftonline.cn",
	"graph.microsoft.com",
	"graph.microsoft.us",
	"microsoftgraph.chinacloudapi.cn",
	"*.b2clogin.com",
	"*.ciamlogin.com",
}

// tlsMaterial is a server's certificate authority and the leaf certificate
// the server presents.
type tlsMaterial struct {
	caCert *x509.Certificate
	pool   *x509.CertPool
	leaf   tls.Certificate
}

func newTLSMaterial(extraNames []string) (*tlsMaterial, error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("authtest: generate CA key: %w", err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "authtest CA", Organization: []string{"authtest"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(10 * 365 * 24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		MaxPathLenZero:        true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, fmt.Errorf("authtest: create CA certificate: %w", err)
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, fmt.Errorf("authtest: parse CA certificate: %w", err)
	}
	leafKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("authtest: generate server key: %w", err)
	}
	names := append(append([]string(nil), EntraHostNames...), extraNames...)
	leafTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "authtest server"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(10 * 365 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     names,
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, caCert, &leafKey.PublicKey, caKey)
	if err != nil {
		return nil, fmt.Errorf("authtest: create server certificate: %w", err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(caCert)
	return &tlsMaterial{
		caCert: caCert,
		pool:   pool,
		leaf:   tls.Certificate{Certificate: [][]byte{leafDER, caDER}, PrivateKey: leafKey},
	}, nil
}

// newTransport returns a transport that connects every address to the
// server's listener and, in TLS mode, trusts the server's CA.
func (s *Server) newTransport() *http.Transport {
	addr := s.listener.Addr().String()
	dialer := &net.Dialer{Timeout: 10 * time.Second}
	t := &http.Transport{
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return dialer.DialContext(ctx, "tcp", addr)
		},
		Proxy:                 nil,
		MaxIdleConnsPerHost:   16,
		IdleConnTimeout:       30 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
		ForceAttemptHTTP2:     false,
	}
	if s.tls != nil {
		t.TLSClientConfig = &tls.Config{RootCAs: s.tls.pool, MinVersion: tls.VersionTLS12}
	}
	return t
}

// Transport returns the transport behind [Server.Client]: it sends every
// connection, whatever the host and port of the URL, to this server's
// loopback listener, and in TLS mode trusts the server's certificate
// authority, so https://login.microsoftonline.com/... and
// https://westus2.login.microsoft.com/... reach this server with their
// real host names. No request made through it leaves the machine.
//
// The same transport is returned on every call and closed by
// [Server.Close]: wrap it, or Clone it to change settings; do not modify it.
func (s *Server) Transport() *http.Transport { return s.transport }

// Client returns an HTTP client whose transport is [Server.Transport].
func (s *Server) Client() *http.Client { return &http.Client{Transport: s.transport} }

// CAPool returns a pool holding the TLS server's certificate authority, or
// nil for a plain HTTP server.
func (s *Server) CAPool() *x509.CertPool {
	if s.tls == nil {
		return nil
	}
	return s.tls.pool
}

// CACertificate returns the TLS server's certificate authority, or nil for
// a plain HTTP server. Programs in other languages can trust it (written
// out as PEM) to talk to a TLS server.
func (s *Server) CACertificate() *x509.Certificate {
	if s.tls == nil {
		return nil
	}
	return s.tls.caCert
}
