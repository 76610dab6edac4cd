package identity_test

import (
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/identity"
)

func TestParseIssuer(t *testing.T) {
	tests := []struct {
		name    string
		spec    string
		want    identity.Issuer
		wantErr string
	}{
		{
			name: "file JWKS, default subject type",
			spec: "corp=https://login.corp.example,jwks=/etc/gatehouse/corp.jwks,audience=gatehouse",
			want: identity.Issuer{Name: "corp", URL: "https://login.corp.example", JWKS: "/etc/gatehouse/corp.jwks", Audience: "gatehouse", SubjectType: "user"},
		},
		{
			name: "URL JWKS, subject type, any key order",
			spec: "k8s=https://kubernetes.default.svc/,subject-type=cluster/workload,audience=api://gate=house,jwks=https://idp.example/keys?x=1",
			want: identity.Issuer{Name: "k8s", URL: "https://kubernetes.default.svc/", JWKS: "https://idp.example/keys?x=1", Audience: "api://gate=house", SubjectType: "cluster/workload"},
		},
		{
			name: "http issuer and relative JWKS path",
			spec: "dev=http://127.0.0.1:8080/realms/dev,jwks=keys.json,audience=a",
			want: identity.Issuer{Name: "dev", URL: "http://127.0.0.1:8080/realms/dev", JWKS: "keys.json", Audience: "a", SubjectType: "user"},
		},
		{name: "empty", spec: "", wantErr: "want NAME=ISSUER_URL"},
		{name: "no name", spec: "https://x.example,jwks=f,audience=a", wantErr: "want NAME=ISSUER_URL"},
		{name: "empty name", spec: "=https://x.example,jwks=f,audience=a", wantErr: "name must be"},
		{name: "bad name", spec: "a b=https://x.example,jwks=f,audience=a", wantErr: "name must be"},
		{name: "empty issuer URL", spec: "x=,jwks=f,audience=a", wantErr: "issuer URL"},
		{name: "issuer not a URL", spec: "x=login.example,jwks=f,audience=a", wantErr: "not an http(s) URL"},
		{name: "issuer without host", spec: "x=https:///path,jwks=f,audience=a", wantErr: "no host"},
		{name: "issuer with fragment", spec: "x=https://x.example#a,jwks=f,audience=a", wantErr: "fragment"},
		{name: "issuer with user info", spec: "x=https://u:p@x.example,jwks=f,audience=a", wantErr: "user information"},
		{name: "issuer unparsable", spec: "x=https://x.example/%zz,jwks=f,audience=a", wantErr: "invalid URL escape"},
		{name: "missing jwks", spec: "x=https://x.example,audience=a", wantErr: "jwks is required"},
		{name: "missing audience", spec: "x=https://x.example,jwks=f", wantErr: "audience is required"},
		{name: "empty jwks", spec: "x=https://x.example,jwks=,audience=a", wantErr: "jwks is empty"},
		{name: "empty audience", spec: "x=https://x.example,jwks=f,audience=", wantErr: "audience is empty"},
		{name: "empty subject type", spec: "x=https://x.example,jwks=f,audience=a,subject-type=", wantErr: "subject-type is empty"},
		{name: "unknown key", spec: "x=https://x.example,jwks=f,audience=a,aud=b", wantErr: `unknown key "aud"`},
		{name: "key without value", spec: "x=https://x.example,jwks=f,audience=a,strict", wantErr: `"strict" is not key=value`},
		{name: "trailing comma", spec: "x=https://x.example,jwks=f,audience=a,", wantErr: `"" is not key=value`},
		{name: "duplicate key", spec: "x=https://x.example,jwks=f,jwks=g,audience=a", wantErr: "jwks given twice"},
		{name: "bad JWKS URL", spec: "x=https://x.example,jwks=https://,audience=a", wantErr: "jwks URL"},
		{name: "subject type with capitals", spec: "x=https://x.example,jwks=f,audience=a,subject-type=User", wantErr: "not a valid SpiceDB object type"},
		{name: "subject type too short", spec: "x=https://x.example,jwks=f,audience=a,subject-type=ab", wantErr: "not a valid SpiceDB object type"},
		{name: "subject type with trailing slash", spec: "x=https://x.example,jwks=f,audience=a,subject-type=org/", wantErr: "not a valid SpiceDB object type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := identity.ParseIssuer(tt.spec)
			if tt.wantErr != "" {
				if err == nil {
					t.Fatalf("ParseIssuer(%q) = %+v, want error containing %q", tt.spec, got, tt.wantErr)
				}
				if !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseIssuer(%q) error %q, want it to contain %q", tt.spec, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseIssuer(%q): %v", tt.spec, err)
			}
			if got != tt.want {
				t.Errorf("ParseIssuer(%q) = %+v, want %+v", tt.spec, got, tt.want)
			}
		})
	}
}

// FuzzParseIssuer feeds --jwt-issuer specs: never a panic, and an accepted
// spec has every field a verifier needs.
func FuzzParseIssuer(f *testing.F) {
	f.Add("corp=https://idp.example.com/,jwks=https://idp.example.com/jwks.json,audience=gatehouse,subject-type=user")
	f.Add("a=http://x/,jwks=/etc/jwks.json,audience=b")
	f.Add("=,,=")
	f.Fuzz(func(t *testing.T, spec string) {
		is, err := identity.ParseIssuer(spec)
		if err != nil {
			return
		}
		if is.Name == "" || is.URL == "" || is.JWKS == "" || is.Audience == "" || is.SubjectType == "" {
			t.Fatalf("ParseIssuer(%q) accepted an incomplete issuer %+v", spec, is)
		}
	})
}
