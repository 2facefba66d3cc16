package broker

import (
	"crypto/tls"
	"crypto/x509"
	"net"
)

// clientAuth is how a listener admits clients.
type clientAuth struct {
	// anonymous accepts clients without a user name (anonymousAllowed).
	anonymous bool
	// certUser takes the user name from the client certificate instead of
	// CONNECT (use_identity_as_username, use_subject_as_username).
	certUser certUser
}

// certUser says which part of a verified client certificate is a
// listener's user name, as Mosquitto's use_identity_as_username and
// use_subject_as_username do (mosquitto.conf(5)): the user name and
// password of CONNECT are then ignored and password_file is not used,
// since only a client with a certificate from ca_file gets that far; the
// ACL applies to the name from the certificate.
type certUser uint8

const (
	certUserNone    certUser = iota
	certUserCN               // the subject's Common Name
	certUserSubject          // the whole subject, RFC 2253 ("CN=dev1,O=Plant")
)

// listenerAuth is the clientAuth of listener l bound to addr.
func (b *Broker) listenerAuth(l Listener, addr net.Addr) clientAuth {
	switch {
	case l.UseIdentityAsUsername:
		return clientAuth{certUser: certUserCN} // every client has a name: none is anonymous
	case l.UseSubjectAsUsername:
		return clientAuth{certUser: certUserSubject}
	}
	return clientAuth{anonymous: anonymousAllowed(b.cfg, addr)}
}

// certUserName returns the user name the client certificate of nc gives
// under cu, or "" when it has none (no certificate, or no Common Name).
func certUserName(nc net.Conn, cu certUser) string {
	var st *tls.ConnectionState
	switch nc := nc.(type) {
	case *tls.Conn:
		s := nc.ConnectionState() // the handshake is done: CONNECT was read through it
		st = &s
	case *wsConn:
		st = nc.tls
	}
	if st == nil || len(st.PeerCertificates) == 0 {
		return ""
	}
	return certName(st.PeerCertificates[0], cu)
}

func certName(cert *x509.Certificate, cu certUser) string {
	if cu == certUserSubject {
		return cert.Subject.String()
	}
	return cert.Subject.CommonName
}
