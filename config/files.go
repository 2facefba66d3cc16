package config

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
)

// File is a file (or device) a table names that its component opens when
// it starts: a certificate and its key, a CA bundle, a password or ACL
// file, a serial port. `gateway check` loads each as the component would,
// before anything starts, and reports what fails as a problem of this
// machine at the key naming it (`check --offline` skips them).
type File struct {
	Key  Path   // the key naming it, relative to the component's table (a Path built from Path{})
	Name string // the file
	// Load opens and parses the file as the component does when it starts.
	// An error that joins several (errors.Join: one per bad line) is
	// reported as one problem each.
	Load func() error
}

// Under returns fs with their keys below base (the component's table).
func Under(base Path, fs []File) []File {
	out := make([]File, len(fs))
	for i, f := range fs {
		f.Key = Path{parts: append(append([]pathPart(nil), base.parts...), f.Key.parts...)}
		out[i] = f
	}
	return out
}

// Problems returns what loading f finds: nil when it loads, else one error
// per problem (the errors an errors.Join holds, or the error itself).
func (f File) Problems() []error {
	err := f.Load()
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// KeyPairFile is a PEM certificate chain named at key with its private key
// keyFile, loaded as a TLS server or client does.
func KeyPairFile(key Path, cert, keyFile string) File {
	return File{Key: key, Name: cert, Load: func() error {
		if _, err := tls.LoadX509KeyPair(cert, keyFile); err != nil {
			return fmt.Errorf("with key_file %s: %w", keyFile, err)
		}
		return nil
	}}
}

// CAFile is a PEM bundle of CA certificates named at key.
func CAFile(key Path, name string) File {
	return File{Key: key, Name: name, Load: func() error {
		pem, err := os.ReadFile(name)
		if err != nil {
			return err
		}
		if !x509.NewCertPool().AppendCertsFromPEM(pem) {
			return fmt.Errorf("%s: no PEM certificates", name)
		}
		return nil
	}}
}

// DeviceFile is a device node (a serial port) named at key: it must exist.
func DeviceFile(key Path, name string) File {
	return File{Key: key, Name: name, Load: func() error {
		_, err := os.Stat(name)
		if errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("%s: no such device (is it plugged in?)", name)
		}
		return err
	}}
}
