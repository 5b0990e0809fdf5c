package objstore

import (
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
)

// awsEndpoint is where requests go when no endpoint is set: Amazon S3,
// whose regional host minio-go derives from the region.
const awsEndpoint = "s3.amazonaws.com"

// defaultRegion is the region signed for when an S3-compatible endpoint is
// set and no region is: the one such servers expect unless configured
// otherwise.
const defaultRegion = "us-east-1"

// settings is what the AWS_* environment says about how to reach the store.
type settings struct {
	host      string // host[:port]
	secure    bool   // https
	custom    bool   // an endpoint was set: an S3-compatible server, path-style
	region    string // empty: let minio-go ask the bucket's location (AWS only)
	accessKey string
	secretKey string
	token     string
	caBundle  string // AWS_CA_BUNDLE: extra PEM roots
}

// readEnv reads the standard AWS variables through env (os.Getenv in
// production). Credentials never appear in its errors.
func readEnv(env func(string) string) (settings, error) {
	get := func(name string) string { return strings.TrimSpace(env(name)) }
	s := settings{host: awsEndpoint, secure: true}

	// As in the AWS SDKs, the service-specific variable wins.
	name, endpoint := "AWS_ENDPOINT_URL_S3", get("AWS_ENDPOINT_URL_S3")
	if endpoint == "" {
		name, endpoint = "AWS_ENDPOINT_URL", get("AWS_ENDPOINT_URL")
	}
	if endpoint != "" {
		host, secure, err := parseEndpoint(endpoint)
		if err != nil {
			return settings{}, fmt.Errorf("%s: %w", name, err)
		}
		s.host, s.secure, s.custom = host, secure, true
	}

	s.region = get("AWS_REGION")
	if s.region == "" {
		s.region = get("AWS_DEFAULT_REGION")
	}
	if s.region == "" && s.custom {
		s.region = defaultRegion
	}

	s.accessKey, s.secretKey, s.token = get("AWS_ACCESS_KEY_ID"), get("AWS_SECRET_ACCESS_KEY"), get("AWS_SESSION_TOKEN")
	switch {
	case s.accessKey == "" && s.secretKey == "":
		return settings{}, errors.New("no object store credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
	case s.accessKey == "":
		return settings{}, errors.New("AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID is not")
	case s.secretKey == "":
		return settings{}, errors.New("AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not")
	}
	s.caBundle = get("AWS_CA_BUNDLE")
	return s, nil
}

// parseEndpoint accepts http://host[:port] or https://host[:port], with
// at most a trailing slash for a path.
func parseEndpoint(raw string) (host string, secure bool, err error) {
	u, err := url.Parse(raw)
	if err != nil || u.Opaque != "" {
		// Neither the raw value nor url.Error (which quotes it) is shown: an
		// endpoint written as http://key:secret@host must not leak.
		return "", false, errors.New("not a URL; want http(s)://host[:port]")
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return "", false, fmt.Errorf("scheme must be http or https (got %q)", u.Scheme)
	case u.User != nil:
		return "", false, errors.New("credentials do not belong in the endpoint URL; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
	case u.Host == "" || u.Hostname() == "":
		return "", false, errors.New("no host; want http(s)://host[:port]")
	case u.Path != "" && u.Path != "/":
		return "", false, fmt.Errorf("%s: a path is not supported; want http(s)://host[:port]", u.Redacted())
	case u.RawQuery != "" || u.Fragment != "":
		return "", false, fmt.Errorf("%s: a query or fragment is not supported", u.Redacted())
	}
	return u.Host, u.Scheme == "https", nil
}

// rootCAs is the system pool plus AWS_CA_BUNDLE's certificates, or nil
// (the system pool) when no bundle is set.
func (s settings) rootCAs() (*x509.CertPool, error) {
	if s.caBundle == "" {
		return nil, nil
	}
	pem, err := os.ReadFile(s.caBundle)
	if err != nil {
		return nil, fmt.Errorf("AWS_CA_BUNDLE: %w", err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("AWS_CA_BUNDLE %s: no PEM certificate found", s.caBundle)
	}
	return pool, nil
}
