package objstore

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"unicode/utf8"
)

// maxKeyLen is S3's limit on an object key, in bytes, prefix included.
const maxKeyLen = 1024

// Location is where a Bucket keeps its objects: a bucket and a key prefix
// inside it. Prefix is empty or a clean slash-separated path without a
// trailing slash; keys given to a Bucket are relative to it.
type Location struct {
	Bucket string
	Prefix string
}

// String is the location's URL, s3://bucket or s3://bucket/prefix.
func (l Location) String() string {
	if l.Prefix == "" {
		return "s3://" + l.Bucket
	}
	return "s3://" + l.Bucket + "/" + l.Prefix
}

// ParseURL parses s3://BUCKET or s3://BUCKET/PREFIX. A trailing slash is
// allowed; anything that is not a plain bucket and clean prefix (another
// scheme, credentials, a port, a query, `..` or empty path segments) is an
// error that says what is wrong.
func ParseURL(raw string) (Location, error) {
	u, err := url.Parse(raw)
	if err != nil {
		// url.Error quotes the input, which holds no secret here: an s3 URL
		// names no credentials, and one that tries is refused below.
		return Location{}, fmt.Errorf("object store URL: %w", err)
	}
	switch {
	case u.Scheme != "s3":
		return Location{}, fmt.Errorf("object store URL %q: scheme must be s3:// (got %q)", redact(u), u.Scheme)
	case u.Opaque != "":
		return Location{}, fmt.Errorf("object store URL %q: want s3://BUCKET/PREFIX", redact(u))
	case u.User != nil:
		return Location{}, fmt.Errorf("object store URL %q: credentials do not belong in the URL; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY", redact(u))
	case u.RawQuery != "" || u.ForceQuery:
		return Location{}, fmt.Errorf("object store URL %q: a query is not allowed", redact(u))
	case u.Fragment != "":
		return Location{}, fmt.Errorf("object store URL %q: a fragment is not allowed", redact(u))
	case u.Port() != "" || strings.HasSuffix(u.Host, ":"):
		return Location{}, fmt.Errorf("object store URL %q: the host part is the bucket name, not an endpoint (set AWS_ENDPOINT_URL for the endpoint)", redact(u))
	case u.Host == "":
		return Location{}, fmt.Errorf("object store URL %q: empty bucket name", redact(u))
	}
	if err := checkBucketName(u.Host); err != nil {
		return Location{}, fmt.Errorf("object store URL %q: %w", redact(u), err)
	}
	prefix := strings.TrimPrefix(u.Path, "/")
	prefix = strings.TrimSuffix(prefix, "/")
	if prefix != "" {
		if err := checkPath(prefix); err != nil {
			return Location{}, fmt.Errorf("object store URL %q: prefix: %w", redact(u), err)
		}
	}
	// Leave room for the keys below the prefix.
	if len(prefix) > maxKeyLen/2 {
		return Location{}, fmt.Errorf("object store URL %q: prefix longer than %d bytes", redact(u), maxKeyLen/2)
	}
	return Location{Bucket: u.Host, Prefix: prefix}, nil
}

// redact drops any user info from u for an error message.
func redact(u *url.URL) string {
	c := *u
	c.User = nil
	return c.String()
}

// checkBucketName applies S3's bucket naming rules: 3 to 63 characters of
// lower-case letters, digits, dots and hyphens, starting and ending with a
// letter or digit, no two adjacent dots.
func checkBucketName(name string) error {
	if len(name) < 3 || len(name) > 63 {
		return fmt.Errorf("bucket name %q must be 3 to 63 characters long", name)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		alnum := c >= 'a' && c <= 'z' || c >= '0' && c <= '9'
		if !alnum && c != '.' && c != '-' {
			return fmt.Errorf("bucket name %q may hold only lower-case letters, digits, dots and hyphens", name)
		}
		if (i == 0 || i == len(name)-1) && !alnum {
			return fmt.Errorf("bucket name %q must start and end with a letter or digit", name)
		}
	}
	if strings.Contains(name, "..") {
		return fmt.Errorf("bucket name %q has two adjacent dots", name)
	}
	return nil
}

// checkPath accepts a slash-separated relative path of non-empty segments,
// none of them "." or "..", in valid UTF-8 without control characters or
// backslashes (which some stores treat as separators).
func checkPath(p string) error {
	switch {
	case p == "":
		return errors.New("empty")
	case !utf8.ValidString(p):
		return errors.New("not valid UTF-8")
	case strings.HasPrefix(p, "/"):
		return fmt.Errorf("%q starts with a slash", p)
	case strings.HasSuffix(p, "/"):
		return fmt.Errorf("%q ends with a slash", p)
	}
	for _, r := range p {
		if r < 0x20 || r == 0x7f || r == '\\' {
			return fmt.Errorf("%q holds a control character or backslash", p)
		}
	}
	for seg := range strings.SplitSeq(p, "/") {
		switch seg {
		case "":
			return fmt.Errorf("%q has an empty path segment", p)
		case ".", "..":
			return fmt.Errorf("%q has a %q segment", p, seg)
		}
	}
	return nil
}

// checkKey validates a key relative to the prefix.
func (l Location) checkKey(key string) error {
	if err := checkPath(key); err != nil {
		return fmt.Errorf("object key: %w", err)
	}
	if len(l.fullKey(key)) > maxKeyLen {
		return fmt.Errorf("object key %q: longer than %d bytes with the prefix", key, maxKeyLen)
	}
	return nil
}

// checkListPrefix validates a listing prefix relative to the location's
// prefix: empty, or a clean path that may end with a slash.
func (l Location) checkListPrefix(prefix string) error {
	if prefix == "" {
		return nil
	}
	if err := checkPath(strings.TrimSuffix(prefix, "/")); err != nil {
		return fmt.Errorf("list prefix: %w", err)
	}
	return nil
}

// fullKey is the bucket key of key, which is relative to the prefix.
func (l Location) fullKey(key string) string {
	if l.Prefix == "" {
		return key
	}
	return l.Prefix + "/" + key
}

// relKey is the inverse of fullKey.
func (l Location) relKey(full string) (string, bool) {
	if l.Prefix == "" {
		return full, true
	}
	return strings.CutPrefix(full, l.Prefix+"/")
}
