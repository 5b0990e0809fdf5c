package githttp

import (
	"strings"
	"testing"
)

func TestParseRoute(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		desc, path string
		want       route
		bad        bool
	}{
		{desc: "info/refs", path: "/app.git/info/refs", want: route{repoID: "app", infoRefs: true}},
		{desc: "upload-pack", path: "/app.git/git-upload-pack", want: route{repoID: "app", service: serviceUploadPack}},
		{desc: "receive-pack", path: "/app.git/git-receive-pack", want: route{repoID: "app", service: serviceReceivePack}},
		{desc: "slashes", path: "/team/project.git/info/refs", want: route{repoID: "team/project", infoRefs: true}},
		{desc: "ephemeral", path: "/team/project+ephemeral.git/git-upload-pack", want: route{repoID: "team/project", remote: remoteEphemeral, service: serviceUploadPack}},
		{desc: "import", path: "/team/project+import.git/git-receive-pack", want: route{repoID: "team/project", remote: remoteImport, service: serviceReceivePack}},
		{desc: "percent-encoded space", path: "/my%20repo.git/info/refs", want: route{repoID: "my repo", infoRefs: true}},
		{desc: "plus stays a plus", path: "/a+b.git/info/refs", want: route{repoID: "a+b", infoRefs: true}},
		{desc: "encoded plus is part of the id", path: "/a%2Bimport.git/info/refs", want: route{repoID: "a+import", infoRefs: true}},
		{desc: "encoded slash", path: "/team%2Fproject.git/info/refs", want: route{repoID: "team/project", infoRefs: true}},
		{desc: "per segment", path: "/t%C3%A9am/x%25y.git/info/refs", want: route{repoID: "téam/x%y", infoRefs: true}},
		{desc: "suffix only once", path: "/a+ephemeral+import.git/info/refs", want: route{repoID: "a+ephemeral", remote: remoteImport, infoRefs: true}},
		{desc: "no .git", path: "/app/info/refs", bad: true},
		{desc: "no service", path: "/app.git", bad: true},
		{desc: "empty id", path: "/.git/info/refs", bad: true},
		{desc: "only a suffix", path: "/+ephemeral.git/info/refs", bad: true},
		{desc: "empty segment", path: "/a//b.git/info/refs", bad: true},
		{desc: "bad escape", path: "/a%zz.git/info/refs", bad: true},
		{desc: "other file", path: "/app.git/HEAD", bad: true},
		{desc: "relative", path: "app.git/info/refs", bad: true},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			got, err := parseRoute(tc.path)
			if tc.bad {
				if err == nil {
					t.Fatalf("parseRoute(%q) = %+v, want an error", tc.path, got)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("parseRoute(%q) = %+v, %v; want %+v", tc.path, got, err, tc.want)
			}
		})
	}
}

func FuzzParseRoute(f *testing.F) {
	for _, s := range []string{"/app.git/info/refs", "/team/p+ephemeral.git/git-upload-pack", "/a%2Fb+import.git/git-receive-pack", "/%zz.git/info/refs", "//.git/info/refs"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, path string) {
		rt, err := parseRoute(path)
		if err != nil {
			return
		}
		if rt.repoID == "" {
			t.Fatalf("%q: empty repository id", path)
		}
		if rt.infoRefs == (rt.service != "") {
			t.Fatalf("%q: infoRefs %v with service %q", path, rt.infoRefs, rt.service)
		}
		if !strings.HasPrefix(path, "/") {
			t.Fatalf("%q: accepted a path without a leading slash", path)
		}
	})
}
