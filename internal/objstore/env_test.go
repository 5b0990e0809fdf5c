package objstore

import (
	"strings"
	"testing"
)

func TestReadEnv(t *testing.T) {
	t.Parallel()
	creds := map[string]string{"AWS_ACCESS_KEY_ID": "AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI-sekrit"}
	with := func(extra map[string]string) map[string]string {
		m := map[string]string{}
		for k, v := range creds {
			m[k] = v
		}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	for _, tc := range []struct {
		desc string
		env  map[string]string
		want settings
		err  string
	}{
		{
			desc: "AWS",
			env:  with(map[string]string{"AWS_REGION": "eu-west-1"}),
			want: settings{host: "s3.amazonaws.com", secure: true, region: "eu-west-1"},
		},
		{
			desc: "AWS without a region: the bucket's own",
			env:  with(nil),
			want: settings{host: "s3.amazonaws.com", secure: true},
		},
		{
			desc: "AWS_REGION wins over AWS_DEFAULT_REGION",
			env:  with(map[string]string{"AWS_REGION": "eu-west-1", "AWS_DEFAULT_REGION": "us-west-2"}),
			want: settings{host: "s3.amazonaws.com", secure: true, region: "eu-west-1"},
		},
		{
			desc: "AWS_DEFAULT_REGION",
			env:  with(map[string]string{"AWS_DEFAULT_REGION": "us-west-2"}),
			want: settings{host: "s3.amazonaws.com", secure: true, region: "us-west-2"},
		},
		{
			desc: "endpoint over http, default region",
			env:  with(map[string]string{"AWS_ENDPOINT_URL": "http://127.0.0.1:7070"}),
			want: settings{host: "127.0.0.1:7070", custom: true, region: "us-east-1"},
		},
		{
			desc: "endpoint over https with a trailing slash",
			env:  with(map[string]string{"AWS_ENDPOINT_URL": "https://minio.internal/", "AWS_REGION": "garage"}),
			want: settings{host: "minio.internal", secure: true, custom: true, region: "garage"},
		},
		{
			desc: "AWS_ENDPOINT_URL_S3 wins over AWS_ENDPOINT_URL",
			env:  with(map[string]string{"AWS_ENDPOINT_URL": "http://general:1", "AWS_ENDPOINT_URL_S3": "https://s3only:2"}),
			want: settings{host: "s3only:2", secure: true, custom: true, region: "us-east-1"},
		},
		{
			desc: "blank AWS_ENDPOINT_URL_S3 falls back",
			env:  with(map[string]string{"AWS_ENDPOINT_URL": "http://general:1", "AWS_ENDPOINT_URL_S3": " "}),
			want: settings{host: "general:1", custom: true, region: "us-east-1"},
		},
		{
			desc: "session token and CA bundle",
			env:  with(map[string]string{"AWS_SESSION_TOKEN": "tok", "AWS_CA_BUNDLE": "/etc/ca.pem", "AWS_REGION": "r"}),
			want: settings{host: "s3.amazonaws.com", secure: true, region: "r", token: "tok", caBundle: "/etc/ca.pem"},
		},
		{desc: "no credentials", env: map[string]string{}, err: "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"},
		{desc: "no secret", env: map[string]string{"AWS_ACCESS_KEY_ID": "id"}, err: "AWS_SECRET_ACCESS_KEY is not"},
		{desc: "no access key", env: map[string]string{"AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI-sekrit"}, err: "AWS_ACCESS_KEY_ID is not"},
		{desc: "endpoint scheme", env: with(map[string]string{"AWS_ENDPOINT_URL": "ftp://host"}), err: "AWS_ENDPOINT_URL: scheme must be http or https"},
		{desc: "endpoint without scheme", env: with(map[string]string{"AWS_ENDPOINT_URL_S3": "host:9000"}), err: "AWS_ENDPOINT_URL_S3: "},
		{desc: "endpoint with a path", env: with(map[string]string{"AWS_ENDPOINT_URL": "http://host/s3"}), err: "a path is not supported"},
		{desc: "endpoint with a query", env: with(map[string]string{"AWS_ENDPOINT_URL": "http://host?x=1"}), err: "query"},
		{desc: "endpoint without host", env: with(map[string]string{"AWS_ENDPOINT_URL": "http://"}), err: "no host"},
		{desc: "endpoint with credentials", env: with(map[string]string{"AWS_ENDPOINT_URL": "http://AKIDEXAMPLE:wJalrXUtnFEMI-sekrit@host"}), err: "credentials do not belong"},
		{desc: "unparsable endpoint with credentials", env: with(map[string]string{"AWS_ENDPOINT_URL": "http://u:wJalrXUtnFEMI-sekrit@[::1"}), err: "not a URL"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			got, err := readEnv(func(k string) string { return tc.env[k] })
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("readEnv = %+v, %v; want an error with %q", got, err, tc.err)
				}
				if strings.Contains(err.Error(), "sekrit") {
					t.Errorf("error shows the secret: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.accessKey != tc.env["AWS_ACCESS_KEY_ID"] || got.secretKey != tc.env["AWS_SECRET_ACCESS_KEY"] {
				t.Errorf("credentials not read")
			}
			got.accessKey, got.secretKey = "", ""
			if got != tc.want {
				t.Errorf("readEnv = %+v, want %+v", got, tc.want)
			}
		})
	}
}
