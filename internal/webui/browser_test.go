package webui_test

import (
	"bytes"
	"context"
	"image"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	cdppage "github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/strata-storage/strata/internal/auth"
)

// chromium finds Debian's headless-capable Chromium.
func chromium() string {
	for _, name := range []string{"/usr/bin/chromium", "chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// TestBrowser signs in through the form in a real headless Chromium
// (driven over the DevTools protocol, so the browser itself keeps the
// cookie and applies its attributes) and screenshots the main pages.
// Screenshots go to a temporary directory, or to $STRATA_SCREENSHOT_DIR
// to look at them.
func TestBrowser(t *testing.T) {
	bin := chromium()
	if bin == "" {
		t.Skip("headless Chromium not found (Debian package chromium; .ci/run installs it when it can): browser test skipped")
	}
	t.Parallel()
	e := start(t)
	tok := writer(e, "app")
	e.createRepo(t, tok)
	e.commit(t, tok, "main", "first commit", map[string]string{"README.md": "# App\n"})
	sha := e.commit(t, tok, "main", "add the server\n\nWith a "+xss+" in the message.", map[string]string{
		"cmd/server/main.go": "package main\n\nimport \"fmt\"\n\nfunc main() {\n\tfmt.Println(\"visible in the browser\")\n}\n",
		xssName + ".txt":     xss + "\n",
	})

	dir := os.Getenv("STRATA_SCREENSHOT_DIR")
	if dir == "" {
		dir = t.TempDir()
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(bin),
		chromedp.NoSandbox, // CI runs as root, where Chromium's sandbox will not start
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.WindowSize(1200, 900),
		chromedp.UserDataDir(t.TempDir()),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	ctx, cancelBrowser := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	defer cancelBrowser()
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	// No page has any script; a dialog would mean one ran.
	var dialogs atomic.Int32
	if err := chromedp.Listen(ctx, func(ev any) {
		if _, ok := ev.(*cdppage.EventJavascriptDialogOpening); ok {
			dialogs.Add(1)
		}
	}); err != nil {
		t.Fatalf("start Chromium: %v", err)
	}

	token := chromedp.CSS("#token")
	if err := chromedp.Do(ctx,
		chromedp.Navigate(e.URL+"/ui/"),
		chromedp.WaitVisible(token),
		chromedp.SetValue(token, e.Token("app", auth.ScopeGitRead)),
		chromedp.Submit(token),
		chromedp.WaitVisible(chromedp.CSS("table.list")),
	); err != nil {
		t.Fatalf("sign in: %v", err)
	}

	for _, tc := range []struct {
		name, path, selector string
		want                 []string
	}{
		{"repositories", "/ui/", "table.list", []string{"app", "main"}},
		{"tree", ui("tree", "repo", "app"), "table.list", []string{"cmd/", "README.md", xssName + ".txt"}},
		{"file", ui("blob", "repo", "app", "path", "cmd/server/main.go"), "table.code", []string{`fmt.Println("visible in the browser")`, "func main() {"}},
		{"xss-file", ui("blob", "repo", "app", "path", xssName+".txt"), "table.code", []string{xss}},
		{"commits", ui("commits", "repo", "app"), "table.list", []string{"add the server", "first commit"}},
		{"commit", ui("commit", "repo", "app", "id", sha), "main", []string{"With a " + xss + " in the message.", `+	fmt.Println("visible in the browser")`}},
	} {
		sel := chromedp.CSS(tc.selector)
		if err := chromedp.Do(ctx, chromedp.Navigate(e.URL+tc.path), chromedp.WaitVisible(sel)); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		text, err := chromedp.Run(ctx, chromedp.Text(sel))
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		scripts, err := chromedp.Run(ctx, chromedp.Nodes(chromedp.CSSAll("script"), chromedp.AtLeast(0)))
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		shot, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		for _, w := range tc.want {
			if !strings.Contains(text, w) {
				t.Errorf("%s: %q not visible in %q", tc.name, w, text)
			}
		}
		if len(scripts) != 0 {
			t.Errorf("%s: the page holds %d script elements", tc.name, len(scripts))
		}
		file := filepath.Join(dir, tc.name+".png")
		if err := os.WriteFile(file, shot, 0o644); err != nil {
			t.Fatal(err)
		}
		checkRendered(t, tc.name, shot)
		t.Logf("%s: %s", tc.name, file)
	}
	if n := dialogs.Load(); n != 0 {
		t.Errorf("%d JavaScript dialogs opened", n)
	}
}

// checkRendered fails unless png data is a picture with something on it:
// a blank (one-colour) page means nothing rendered.
func checkRendered(t *testing.T, name string, data []byte) {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("%s: screenshot is no PNG (%d bytes): %v", name, len(data), err)
	}
	b := img.Bounds()
	if b.Dx() < 100 || b.Dy() < 100 {
		t.Fatalf("%s: screenshot is %v", name, b)
	}
	colours := map[[4]uint32]bool{}
	for y := b.Min.Y; y < b.Max.Y; y += 3 {
		for x := b.Min.X; x < b.Max.X; x += 3 {
			colours[rgba(img, x, y)] = true
		}
	}
	// Text, the dark header and table rules give many shades; a blank or
	// error-free-but-empty page gives one or two.
	if len(colours) < 8 {
		t.Errorf("%s: screenshot has only %d colours: nothing rendered", name, len(colours))
	}
	// The header is dark only if the style element ran under the CSP's
	// nonce; a blocked style leaves it white.
	if c := rgba(img, b.Min.X+4, b.Min.Y+4); c[0]>>8 > 0x40 || c[1]>>8 > 0x40 || c[2]>>8 > 0x40 {
		t.Errorf("%s: header pixel %v is not dark: the page's style did not apply", name, c)
	}
}

func rgba(img image.Image, x, y int) [4]uint32 {
	r, g, b, a := img.At(x, y).RGBA()
	return [4]uint32{r, g, b, a}
}
