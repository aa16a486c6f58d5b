package transport

import "crypto/x509"

type x509CertPool = x509.CertPool
