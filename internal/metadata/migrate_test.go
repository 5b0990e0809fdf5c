package metadata

import (
	"testing"
	"testing/fstest"
)

func TestLoadMigrations(t *testing.T) {
	t.Parallel()
	ms, err := loadMigrations(migrationFiles)
	if err != nil {
		t.Fatalf("embedded migrations: %v", err)
	}
	if len(ms) == 0 || ms[0].name != "0001_init.sql" {
		t.Fatalf("embedded migrations = %v", ms)
	}

	for _, tc := range []struct {
		desc  string
		files []string
		want  []int // nil: an error
	}{
		{"ordered by number", []string{"0002_b.sql", "0010_c.sql", "0001_a.sql", "0003_d.sql", "0004_e.sql", "0005_f.sql", "0006_g.sql", "0007_h.sql", "0008_i.sql", "0009_j.sql"}, []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}},
		{"gap", []string{"0001_a.sql", "0003_c.sql"}, nil},
		{"duplicate", []string{"0001_a.sql", "0001_b.sql"}, nil},
		{"no number", []string{"init.sql"}, nil},
		{"zero", []string{"0000_a.sql"}, nil},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			fsys := fstest.MapFS{}
			for _, f := range tc.files {
				fsys["migrations/"+f] = &fstest.MapFile{Data: []byte("SELECT 1;")}
			}
			ms, err := loadMigrations(fsys)
			if tc.want == nil {
				if err == nil {
					t.Fatalf("loadMigrations accepted %v", tc.files)
				}
				return
			}
			if err != nil {
				t.Fatalf("loadMigrations: %v", err)
			}
			for i, m := range ms {
				if m.version != tc.want[i] {
					t.Fatalf("versions = %v, want %v", ms, tc.want)
				}
			}
		})
	}
}
