package git

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

func TestHasPCRE(t *testing.T) {
	t.Parallel()
	f, err := NewFactory(FactoryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ok, err := f.HasPCRE(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// The test machine's git (Debian's) has PCRE2; CI installs the same.
	if !ok {
		t.Fatal("git grep -P reported unsupported by the system git")
	}

	// A git that refuses -P the way a build without PCRE does.
	dir := t.TempDir()
	fake := filepath.Join(dir, "git")
	script := "#!/bin/sh\n" +
		"for a in \"$@\"; do\n" +
		"  if [ \"$a\" = grep ]; then echo 'fatal: cannot use Perl-compatible regexes when not compiled with USE_LIBPCRE' >&2; exit 128; fi\n" +
		"done\n" +
		"exec " + f.Binary() + " \"$@\"\n"
	if err := os.WriteFile(fake, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	nf, err := NewFactory(FactoryOptions{Binary: fake})
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := nf.HasPCRE(context.Background()); ok || err != nil {
		t.Fatalf("git without PCRE: HasPCRE = %v, %v", ok, err)
	}
}
