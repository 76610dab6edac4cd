package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
)

// serverTLS loads the certificate and key given to serve. Both or neither must
// be set; neither means plaintext (h2c).
func serverTLS(certFile, keyFile string) (*tls.Config, error) {
	switch {
	case certFile == "" && keyFile == "":
		return nil, nil
	case certFile == "":
		return nil, errors.New("--tls-key given without --tls-cert: both are needed to serve TLS")
	case keyFile == "":
		return nil, errors.New("--tls-cert given without --tls-key: both are needed to serve TLS")
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("load TLS certificate %s and key %s: %w", certFile, keyFile, err)
	}
	// http.Server adds "h2" and "http/1.1" to NextProtos when serving TLS.
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, nil
}

// clientTLS is how a client command secures its connection.
type clientTLS struct {
	enabled    bool
	skipVerify bool
	ca         string
}

// addFlags registers --tls, --insecure-skip-verify and --ca; --tls defaults
// to $GATEHOUSE_TLS.
func (c *clientTLS) addFlags(fs *flag.FlagSet, getenv func(string) string) {
	def, _ := strconv.ParseBool(getenv("GATEHOUSE_TLS"))
	fs.BoolVar(&c.enabled, "tls", def, "connect with TLS (env GATEHOUSE_TLS); implied by --ca and --insecure-skip-verify")
	fs.BoolVar(&c.skipVerify, "insecure-skip-verify", false, "connect with TLS without verifying the server's certificate")
	fs.StringVar(&c.ca, "ca", getenv("GATEHOUSE_CA"), "PEM file of the CA that signed the server's certificate (env GATEHOUSE_CA; default the system roots)")
}

// config returns the client TLS configuration, nil for plaintext.
func (c *clientTLS) config() (*tls.Config, error) {
	if !c.enabled && !c.skipVerify && c.ca == "" {
		return nil, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: c.skipVerify}
	if c.ca != "" {
		pem, err := os.ReadFile(c.ca)
		if err != nil {
			return nil, fmt.Errorf("--ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--ca: no PEM certificate in %s", c.ca)
		}
		cfg.RootCAs = pool
	}
	return cfg, nil
}

// credentials returns the transport credentials and whether they are secure.
func (c *clientTLS) credentials() (credentials.TransportCredentials, bool, error) {
	cfg, err := c.config()
	if err != nil || cfg == nil {
		return insecure.NewCredentials(), false, err
	}
	return credentials.NewTLS(cfg), true, nil
}

// dialOption is the grpc.DialOption of c's credentials.
func (c *clientTLS) dialOption() (grpc.DialOption, bool, error) {
	creds, secure, err := c.credentials()
	if err != nil {
		return nil, false, err
	}
	return grpc.WithTransportCredentials(creds), secure, nil
}
