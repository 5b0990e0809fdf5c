package objstore

import (
	"strings"
	"testing"
)

func TestParseURL(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		desc, in string
		want     Location
		err      string // a substring of the error; empty: no error
	}{
		{desc: "bucket and prefix", in: "s3://packs/strata/prod", want: Location{Bucket: "packs", Prefix: "strata/prod"}},
		{desc: "bucket only", in: "s3://packs", want: Location{Bucket: "packs"}},
		{desc: "bucket with slash", in: "s3://packs/", want: Location{Bucket: "packs"}},
		{desc: "trailing slash", in: "s3://packs/a/b/", want: Location{Bucket: "packs", Prefix: "a/b"}},
		{desc: "dots and hyphens", in: "s3://my-bucket.example/x", want: Location{Bucket: "my-bucket.example", Prefix: "x"}},
		{desc: "escaped", in: "s3://packs/a%20b", want: Location{Bucket: "packs", Prefix: "a b"}},
		{desc: "other scheme", in: "https://packs/x", err: "scheme must be s3://"},
		{desc: "no scheme", in: "packs/x", err: "scheme must be s3://"},
		{desc: "gs", in: "gs://packs", err: "scheme must be s3://"},
		{desc: "opaque", in: "s3:packs", err: "want s3://BUCKET/PREFIX"},
		{desc: "empty bucket", in: "s3:///prefix", err: "empty bucket name"},
		{desc: "empty", in: "", err: "scheme must be s3://"},
		{desc: "dot-dot", in: "s3://packs/a/../b", err: `".." segment`},
		{desc: "leading dot-dot", in: "s3://packs/..", err: `".." segment`},
		{desc: "dot", in: "s3://packs/./a", err: `"." segment`},
		{desc: "empty segment", in: "s3://packs/a//b", err: "empty path segment"},
		{desc: "double slash after bucket", in: "s3://packs//a", err: "starts with a slash"},
		{desc: "escaped dot-dot", in: "s3://packs/a/%2e%2e/b", err: `".." segment`},
		{desc: "control character", in: "s3://packs/a%0Ab", err: "control character"},
		{desc: "backslash", in: "s3://packs/a%5Cb", err: "backslash"},
		{desc: "credentials", in: "s3://key:secret@packs/x", err: "credentials do not belong"},
		{desc: "port", in: "s3://packs:9000/x", err: "AWS_ENDPOINT_URL"},
		{desc: "query", in: "s3://packs/x?region=eu", err: "query"},
		{desc: "fragment", in: "s3://packs/x#y", err: "fragment"},
		{desc: "upper case bucket", in: "s3://Packs/x", err: "lower-case"},
		{desc: "underscore bucket", in: "s3://my_packs", err: "lower-case"},
		{desc: "short bucket", in: "s3://ab", err: "3 to 63"},
		{desc: "long bucket", in: "s3://" + strings.Repeat("a", 64), err: "3 to 63"},
		{desc: "bucket starting with hyphen", in: "s3://-packs", err: "start and end"},
		{desc: "bucket with adjacent dots", in: "s3://a..b", err: "adjacent dots"},
		{desc: "long prefix", in: "s3://packs/" + strings.Repeat("p", 600), err: "prefix longer"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			got, err := ParseURL(tc.in)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("ParseURL(%q) = %+v, %v; want an error with %q", tc.in, got, err, tc.err)
				}
				if strings.Contains(err.Error(), "secret") {
					t.Errorf("error shows the URL's password: %v", err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("ParseURL(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
			}
			// String round-trips.
			if again, err := ParseURL(got.String()); err != nil || again != got {
				t.Errorf("ParseURL(%q) = %+v, %v", got.String(), again, err)
			}
		})
	}
}

func TestLocation_keys(t *testing.T) {
	t.Parallel()
	withPrefix := Location{Bucket: "b", Prefix: "p/q"}
	if got := withPrefix.fullKey("packs/x.pack"); got != "p/q/packs/x.pack" {
		t.Errorf("fullKey = %q", got)
	}
	if got, ok := withPrefix.relKey("p/q/packs/x.pack"); !ok || got != "packs/x.pack" {
		t.Errorf("relKey = %q, %v", got, ok)
	}
	if _, ok := withPrefix.relKey("p/qr/x"); ok {
		t.Error("relKey accepted a key beside the prefix")
	}
	for _, key := range []string{"a", "a/b.pack", "pack-0123.idx", "ünïcode/ключ"} {
		if err := withPrefix.checkKey(key); err != nil {
			t.Errorf("checkKey(%q): %v", key, err)
		}
	}
	for _, key := range []string{"", "/a", "a/", "a//b", "..", "a/../b", ".", "a\x00", "a\\b", "\xff", strings.Repeat("k", 1021)} {
		if err := withPrefix.checkKey(key); err == nil {
			t.Errorf("checkKey(%q) accepted", key)
		}
	}
	for _, prefix := range []string{"", "a", "a/", "a/b/"} {
		if err := withPrefix.checkListPrefix(prefix); err != nil {
			t.Errorf("checkListPrefix(%q): %v", prefix, err)
		}
	}
	for _, prefix := range []string{"/", "../", "a//", "/a"} {
		if err := withPrefix.checkListPrefix(prefix); err == nil {
			t.Errorf("checkListPrefix(%q) accepted", prefix)
		}
	}
}
