package main

import (
	"errors"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/strata-storage/strata/internal/auth"
)

func runToken(args []string) error {
	fs := flag.NewFlagSet("token", flag.ContinueOnError)
	keyPath := fs.String("key", "", "private key (PEM) to sign with")
	org := fs.String("org", "", "organisation (the JWT iss)")
	repoID := fs.String("repo", "", `repository id, or "org" for organisation-level calls`)
	scopes := fs.String("scopes", "git:read", "comma-separated scopes: git:read, git:write, repo:write, org:read")
	ttl := fs.Duration("ttl", time.Hour, "lifetime")
	kid := fs.String("kid", "", "key id header (the public key's file name without extension)")
	var policies []auth.RawRule
	fs.Func("ref-policy", "PATTERN=OP[+OP...] ref policy, repeatable, first match wins (e.g. main=no-push)", func(v string) error {
		pattern, ops, ok := strings.Cut(v, "=")
		if !ok || pattern == "" {
			return fmt.Errorf("want PATTERN=OPS, got %q", v)
		}
		rule := auth.RawRule{Pattern: pattern}
		for _, op := range strings.Split(ops, "+") {
			if op != "" {
				rule.Ops = append(rule.Ops, auth.Op(op))
			}
		}
		policies = append(policies, rule)
		return nil
	})
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *keyPath == "" || *org == "" || *repoID == "" {
		return errors.New("--key, --org and --repo are required")
	}
	signer, err := auth.LoadPrivateKeyFile(*keyPath)
	if err != nil {
		return err
	}
	c := auth.Claims{Issuer: *org, Repo: *repoID, TTL: *ttl, KeyID: *kid, Refs: policies}
	for _, s := range strings.Split(*scopes, ",") {
		if s = strings.TrimSpace(s); s != "" {
			c.Scopes = append(c.Scopes, auth.Scope(s))
		}
	}
	tok, err := auth.Mint(signer, c)
	if err != nil {
		return err
	}
	fmt.Println(tok)
	return nil
}
