package main

import (
	"path/filepath"
	"strings"
	"testing"
)

func TestValidate(t *testing.T) {
	tests := []struct {
		name    string
		code    int
		wantErr string
	}{
		{"validate_pass", 0, ""},
		{"validate_fail", 1, ""},
		{"validate_badschema", 2, "line 4: schema: could not lookup definition `nosuch`"},
		{"validate_badassert", 2, "line 7: error parsing relationship in assertion"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := cli{t: t}.run("validate", filepath.Join("testdata", tt.name+".yaml"))
			if r.code() != tt.code {
				t.Fatalf("exit %d, want %d: %v\n%s", r.code(), tt.code, r.err, r.stdout)
			}
			if tt.wantErr != "" {
				if !strings.Contains(r.err.Error(), tt.wantErr) {
					t.Errorf("error %q lacks %q", r.err, tt.wantErr)
				}
				return
			}
			golden(t, tt.name, r.stdout)
		})
	}
}
