package main

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"

	"github.com/strata-storage/strata/internal/auth"
	"github.com/strata-storage/strata/internal/config"
	"github.com/strata-storage/strata/internal/metadata"
)

const orgUsage = `usage:
  strata org add NAME [--key PUB.pem [--kid ID]] [--jwks-url URL]
  strata org list
  strata org remove NAME
  strata org set NAME --jwks-url URL      (an empty URL removes it)
  strata org key add NAME --key PUB.pem [--kid ID]
  strata org key remove NAME KID
  strata org key list NAME

Every command takes --data-dir (default $STRATA_DATA_DIR or ./strata-data)
and --metadata (default $STRATA_METADATA), naming the server's metadata
store as serve does, and works while the server runs: it picks changes up
within seconds.`

// pickupNote ends every change's message: nothing needs a restart.
const pickupNote = "a running server picks this up within seconds"

func runOrg(args []string) error { return orgCommand(context.Background(), os.Stdout, args) }

// orgCommand runs `strata org ARGS`, writing to out.
func orgCommand(ctx context.Context, out io.Writer, args []string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprintln(out, orgUsage)
		if len(args) == 0 {
			return errors.New("missing subcommand")
		}
		return nil
	}
	sub, args := args[0], args[1:]
	if sub == "key" {
		if len(args) == 0 {
			return errors.New("missing subcommand: strata org key add|remove|list")
		}
		sub, args = "key "+args[0], args[1:]
	}
	o := &orgCmd{out: out}
	fset := flag.NewFlagSet("org "+sub, flag.ContinueOnError)
	fset.Usage = func() { fmt.Fprintln(fset.Output(), orgUsage) }
	fset.StringVar(&o.dataDir, "data-dir", defaultDataDir(), "the server's data directory")
	fset.StringVar(&o.storeSpec, "metadata", os.Getenv("STRATA_METADATA"), "the server's metadata store, as serve's --metadata: empty = SQLite in the data dir, or a postgres:// URL")
	var run func(ctx context.Context, s metadata.Store, pos []string) error
	want := 1 // positional arguments
	mutates := true
	switch sub {
	case "add":
		fset.StringVar(&o.keyPath, "key", "", "public key (PEM) of the organisation")
		fset.StringVar(&o.kid, "kid", "", "key id tokens name in their kid header (default: the key file's name without extension)")
		fset.StringVar(&o.jwksURL, "jwks-url", "", "https URL of a JSON Web Key Set trusted for the organisation")
		run = o.add
	case "set":
		fset.StringVar(&o.jwksURL, "jwks-url", "", "https URL of a JSON Web Key Set; empty removes it")
		run = o.set
	case "remove":
		run = o.remove
	case "list":
		want, mutates, run = 0, false, o.list
	case "key add":
		fset.StringVar(&o.keyPath, "key", "", "public key (PEM)")
		fset.StringVar(&o.kid, "kid", "", "key id (default: the key file's name without extension)")
		run = o.keyAdd
	case "key remove":
		want, run = 2, o.keyRemove
	case "key list":
		mutates, run = false, o.keyList
	default:
		return fmt.Errorf("unknown subcommand %q\n%s", sub, orgUsage)
	}
	pos, err := parseInterspersed(fset, args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if len(pos) != want {
		return fmt.Errorf("org %s: want %d argument(s), got %d\n%s", sub, want, len(pos), orgUsage)
	}
	o.setJWKS = flagGiven(fset, "jwks-url")
	s, err := openStore(ctx, o.dataDir, o.storeSpec, mutates)
	if err != nil {
		return err
	}
	defer s.Close()
	return run(ctx, s, pos)
}

// parseInterspersed parses flags wherever they appear ("add NAME --key
// k.pem" as well as "add --key k.pem NAME"), which flag.Parse alone does
// not: it stops at the first argument that is not a flag.
func parseInterspersed(fset *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fset.Parse(args); err != nil {
			return nil, err
		}
		args = fset.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

func flagGiven(fset *flag.FlagSet, name string) bool {
	given := false
	fset.Visit(func(f *flag.Flag) { given = given || f.Name == name })
	return given
}

// defaultDataDir is serve's default: $STRATA_DATA_DIR, else ./strata-data.
func defaultDataDir() string {
	if d, ok := os.LookupEnv("STRATA_DATA_DIR"); ok && d != "" {
		return d
	}
	return config.Default().DataDir
}

// openStore opens the server's metadata store: spec as serve's
// --metadata, SQLite in dataDir when empty. For SQLite, changes may create
// the data dir (organisations can be set up before the first start);
// reads need an existing store rather than leaving an empty one behind.
func openStore(ctx context.Context, dataDir, spec string, mutates bool) (metadata.Store, error) {
	if spec == "" {
		path := filepath.Join(dataDir, metadata.SQLiteFileName)
		if mutates {
			if err := os.MkdirAll(dataDir, 0o755); err != nil {
				return nil, err
			}
		} else if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("no metadata store at %s (is --data-dir the server's?)", path)
		}
	}
	return metadata.Open(ctx, spec, dataDir)
}

type orgCmd struct {
	out       io.Writer
	dataDir   string
	storeSpec string // --metadata
	keyPath   string
	kid       string
	jwksURL   string
	setJWKS   bool // --jwks-url was given, maybe empty
}

func (o *orgCmd) add(ctx context.Context, s metadata.Store, pos []string) error {
	name := pos[0]
	if err := checkName("organisation name", name); err != nil {
		return err
	}
	if o.keyPath == "" && o.jwksURL == "" {
		return errors.New("org add: give --key, --jwks-url or both")
	}
	org := metadata.Org{Name: name}
	if o.jwksURL != "" {
		if err := checkJWKSURL(o.jwksURL); err != nil {
			return err
		}
		org.JWKSURL = o.jwksURL
	}
	if o.keyPath != "" {
		k, err := o.readKey(name)
		if err != nil {
			return err
		}
		org.Keys = []metadata.OrgKey{k}
	} else if o.kid != "" {
		return errors.New("org add: --kid needs --key")
	}
	if _, err := s.CreateOrg(ctx, org); err != nil {
		if errors.Is(err, metadata.ErrExists) {
			return fmt.Errorf("organisation %q exists; add a key with: strata org key add %s --key PUB.pem", name, name)
		}
		return err
	}
	msg := fmt.Sprintf("added organisation %q", name)
	if len(org.Keys) > 0 {
		msg += fmt.Sprintf(" with key %q", org.Keys[0].ID)
	}
	if org.JWKSURL != "" {
		msg += " and JWKS " + org.JWKSURL
	}
	fmt.Fprintf(o.out, "%s; %s\n", msg, pickupNote)
	return nil
}

func (o *orgCmd) set(ctx context.Context, s metadata.Store, pos []string) error {
	if !o.setJWKS {
		return errors.New("org set: nothing to set (--jwks-url URL)")
	}
	if o.jwksURL != "" {
		if err := checkJWKSURL(o.jwksURL); err != nil {
			return err
		}
	}
	if err := s.SetOrgJWKSURL(ctx, pos[0], o.jwksURL); err != nil {
		return notFound(err, pos[0])
	}
	if o.jwksURL == "" {
		fmt.Fprintf(o.out, "removed the JWKS URL of %q; %s\n", pos[0], pickupNote)
	} else {
		fmt.Fprintf(o.out, "JWKS URL of %q is %s; %s\n", pos[0], o.jwksURL, pickupNote)
	}
	return nil
}

func (o *orgCmd) remove(ctx context.Context, s metadata.Store, pos []string) error {
	if err := s.DeleteOrg(ctx, pos[0]); err != nil {
		return notFound(err, pos[0])
	}
	fmt.Fprintf(o.out, "removed organisation %q and its keys (its repositories stay); %s\n", pos[0], pickupNote)
	return nil
}

func (o *orgCmd) list(ctx context.Context, s metadata.Store, _ []string) error {
	orgs, err := s.Orgs(ctx)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(o.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ORG\tKEYS\tJWKS URL")
	for _, org := range orgs {
		ids := make([]string, len(org.Keys))
		for i, k := range org.Keys {
			ids[i] = k.ID
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", org.Name, orDash(strings.Join(ids, ",")), orDash(org.JWKSURL))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(orgs) == 0 {
		fmt.Fprintln(o.out, "(no organisations in the store; --org flags of strata serve are not listed)")
	}
	return nil
}

func (o *orgCmd) keyAdd(ctx context.Context, s metadata.Store, pos []string) error {
	if o.keyPath == "" {
		return errors.New("org key add: --key is required")
	}
	k, err := o.readKey(pos[0])
	if err != nil {
		return err
	}
	if _, err := s.AddOrgKey(ctx, k); err != nil {
		if errors.Is(err, metadata.ErrExists) {
			return fmt.Errorf("organisation %q already has a key %q; choose another --kid", k.Org, k.ID)
		}
		return notFound(err, k.Org)
	}
	fmt.Fprintf(o.out, "added key %q to %q; tokens signed with it or the older keys verify until those are removed; %s\n", k.ID, k.Org, pickupNote)
	return nil
}

func (o *orgCmd) keyRemove(ctx context.Context, s metadata.Store, pos []string) error {
	org, kid := pos[0], pos[1]
	if err := s.RemoveOrgKey(ctx, org, kid); err != nil {
		if errors.Is(err, metadata.ErrNotFound) {
			return fmt.Errorf("organisation %q has no key %q (see strata org key list %s)", org, kid, org)
		}
		return err
	}
	fmt.Fprintf(o.out, "removed key %q of %q: its tokens are refused; %s\n", kid, org, pickupNote)
	if got, err := s.Org(ctx, org); err == nil && len(got.Keys) == 0 && got.JWKSURL == "" {
		fmt.Fprintf(o.out, "warning: %q has no keys left, so none of its tokens verify\n", org)
	}
	return nil
}

func (o *orgCmd) keyList(ctx context.Context, s metadata.Store, pos []string) error {
	org, err := s.Org(ctx, pos[0])
	if err != nil {
		return notFound(err, pos[0])
	}
	tw := tabwriter.NewWriter(o.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KID\tTYPE\tSHA-256 OF THE SPKI\tADDED")
	for _, k := range org.Keys {
		kind, print := "unreadable", "-"
		if pub, err := auth.ParsePublicKeyPEM(k.PublicKey); err == nil {
			kind, print = keyType(pub), fingerprint(pub)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", k.ID, kind, print, k.CreatedAt.Format(time.RFC3339))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if org.JWKSURL != "" {
		fmt.Fprintf(o.out, "and the keys of the JWKS at %s\n", org.JWKSURL)
	}
	return nil
}

// readKey loads --key for org, with --kid or the file's key id. The key is
// stored re-encoded, so whatever else the file holds stays out.
func (o *orgCmd) readKey(org string) (metadata.OrgKey, error) {
	k, err := auth.LoadPublicKeyFile(o.keyPath)
	if err != nil {
		return metadata.OrgKey{}, err
	}
	if o.kid != "" {
		k.ID = o.kid
	}
	if err := checkName("key id", k.ID); err != nil {
		return metadata.OrgKey{}, err
	}
	der, err := x509.MarshalPKIXPublicKey(k.Public)
	if err != nil {
		return metadata.OrgKey{}, fmt.Errorf("encode %s: %w", o.keyPath, err)
	}
	return metadata.OrgKey{Org: org, ID: k.ID, PublicKey: pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})}, nil
}

// checkName refuses names an operator could not type back or read in a
// log: empty ones, or ones with spaces or control characters.
func checkName(what, s string) error {
	if s == "" {
		return fmt.Errorf("%s must not be empty", what)
	}
	if strings.HasPrefix(s, "-") {
		return fmt.Errorf("%s %q starts with '-' (a misplaced flag?)", what, s)
	}
	if strings.IndexFunc(s, func(r rune) bool { return unicode.IsSpace(r) || !unicode.IsPrint(r) }) >= 0 {
		return fmt.Errorf("%s %q has spaces or control characters", what, s)
	}
	return nil
}

// checkJWKSURL accepts an absolute http(s) URL without credentials. Plain
// http (and a private address) is fetched only if the server allows
// private targets (--upstream-allow-private); the server checks that.
func checkJWKSURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return fmt.Errorf("--jwks-url %q: want an absolute https:// URL", raw)
	}
	if u.User != nil {
		return fmt.Errorf("--jwks-url %q: credentials in the URL are not supported", raw)
	}
	return nil
}

func notFound(err error, org string) error {
	if errors.Is(err, metadata.ErrNotFound) {
		return fmt.Errorf("no organisation %q in the store (see strata org list)", org)
	}
	return err
}

func keyType(pub crypto.PublicKey) string {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		return "EC " + k.Curve.Params().Name
	case *rsa.PublicKey:
		return fmt.Sprintf("RSA %d", k.N.BitLen())
	case ed25519.PublicKey:
		return "Ed25519"
	}
	return fmt.Sprintf("%T", pub)
}

// fingerprint is the SHA-256 of the key's DER SPKI encoding in base64,
// for comparing with the key an organisation says it holds.
func fingerprint(pub crypto.PublicKey) string {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "-"
	}
	sum := sha256.Sum256(der)
	return base64.RawStdEncoding.EncodeToString(sum[:])
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
