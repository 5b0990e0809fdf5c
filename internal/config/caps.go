package config

import (
	"errors"
	"flag"
	"time"
)

// Caps are operator limits that tighten what clients may do; each is off
// or lenient by default (docs/api-decisions.md, docs/maintenance.md).
type Caps struct {
	// MaxTokenTTL refuses tokens whose lifetime (exp − iat, or exp − now
	// without iat) is longer; 0 accepts any lifetime.
	MaxTokenTTL time.Duration
	// TmpObjectGrace is the age after which a tmp_obj_* file in a fan-out
	// directory (an object write that never finished: a crash) is removed,
	// at startup after a crash and by maintenance.
	TmpObjectGrace time.Duration
}

func defaultCaps() Caps {
	return Caps{TmpObjectGrace: time.Hour}
}

func (c *Caps) register(fs *flag.FlagSet) {
	fs.DurationVar(&c.MaxTokenTTL, "max-token-ttl", c.MaxTokenTTL, "refuse tokens whose lifetime (exp - iat) exceeds this; 0 = no cap")
	fs.DurationVar(&c.TmpObjectGrace, "tmp-object-grace", c.TmpObjectGrace, "remove leftover tmp_obj_* files (unfinished object writes) older than this, after a crash and during maintenance; at least 1m")
}

func (c *Caps) validate() error {
	var errs []error
	if c.MaxTokenTTL < 0 {
		errs = append(errs, errors.New("--max-token-ttl must not be negative"))
	}
	if c.TmpObjectGrace < time.Minute {
		errs = append(errs, errors.New("--tmp-object-grace must be at least 1m: a write in flight keeps its temporary files"))
	}
	return errors.Join(errs...)
}
