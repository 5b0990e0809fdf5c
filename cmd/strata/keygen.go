package main

import (
	"errors"
	"flag"
	"fmt"

	"github.com/strata-storage/strata/internal/auth"
)

func runKeygen(args []string) error {
	fs := flag.NewFlagSet("keygen", flag.ContinueOnError)
	out := fs.String("out", "", "directory to write the key pair into")
	alg := fs.String("alg", "ES256", "ES256, RS256 or EdDSA")
	name := fs.String("name", "", "file name (and key id); default: the algorithm, lower case")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *out == "" {
		return errors.New("--out is required")
	}
	if *name == "" {
		*name = map[string]string{"ES256": "es256", "RS256": "rs256", "EdDSA": "eddsa"}[*alg]
		if *name == "" {
			*name = "key"
		}
	}
	signer, err := auth.GenerateKey(*alg)
	if err != nil {
		return err
	}
	priv, pub, err := auth.WriteKeyPair(*out, *name, signer)
	if err != nil {
		return err
	}
	fmt.Printf("private key: %s\npublic key:  %s\nserve with:  strata serve --org NAME=%s\n", priv, pub, pub)
	return nil
}
