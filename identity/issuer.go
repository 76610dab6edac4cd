package identity

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"
)

// DefaultSubjectType is the SpiceDB object type of subjects when an Issuer
// does not name one.
const DefaultSubjectType = "user"

// Issuer is one trusted token issuer.
type Issuer struct {
	// Name identifies the issuer in configuration and in Identity.Issuer.
	Name string
	// URL is matched exactly against the token's "iss" claim.
	URL string
	// JWKS is the issuer's JSON Web Key Set: a file path or an http(s) URL.
	JWKS string
	// Audience must be one of the token's "aud" values.
	Audience string
	// SubjectType is the SpiceDB object type of the token's subject.
	SubjectType string
}

// maxObjectIDBytes is SpiceDB's limit on object IDs.
const maxObjectIDBytes = 1024

// These patterns follow SpiceDB's object type and object ID rules.
var (
	issuerNamePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$`)
	objectTypePattern = regexp.MustCompile(`^([a-z][a-z0-9_]{1,62}[a-z0-9]/)*[a-z][a-z0-9_]{1,62}[a-z0-9]$`)
	objectIDPattern   = regexp.MustCompile(`^[a-zA-Z0-9/_|\-=+]+$`)
)

// ParseIssuer parses the command-line form
//
//	NAME=ISSUER_URL,jwks=FILE_OR_URL,audience=AUD[,subject-type=TYPE]
//
// Values cannot contain commas. subject-type defaults to DefaultSubjectType.
func ParseIssuer(spec string) (Issuer, error) {
	head, rest, _ := strings.Cut(spec, ",")
	name, issURL, ok := strings.Cut(head, "=")
	if !ok {
		return Issuer{}, fmt.Errorf("issuer %q: want NAME=ISSUER_URL,jwks=FILE_OR_URL,audience=AUD[,subject-type=TYPE]", spec)
	}
	iss := Issuer{Name: name, URL: issURL, SubjectType: DefaultSubjectType}
	seen := map[string]bool{}
	for field := range strings.SplitSeq(rest, ",") {
		if rest == "" {
			break
		}
		key, value, ok := strings.Cut(field, "=")
		if !ok {
			return Issuer{}, fmt.Errorf("issuer %q: %q is not key=value", name, field)
		}
		if seen[key] {
			return Issuer{}, fmt.Errorf("issuer %q: %s given twice", name, key)
		}
		seen[key] = true
		if value == "" {
			return Issuer{}, fmt.Errorf("issuer %q: %s is empty", name, key)
		}
		switch key {
		case "jwks":
			iss.JWKS = value
		case "audience":
			iss.Audience = value
		case "subject-type":
			iss.SubjectType = value
		default:
			return Issuer{}, fmt.Errorf("issuer %q: unknown key %q (known: jwks, audience, subject-type)", name, key)
		}
	}
	for _, key := range []string{"jwks", "audience"} {
		if !seen[key] {
			return Issuer{}, fmt.Errorf("issuer %q: %s is required", name, key)
		}
	}
	if err := iss.validate(); err != nil {
		return Issuer{}, err
	}
	return iss, nil
}

// validate checks every field, so that issuers built in code get the same
// checks as parsed ones.
func (iss Issuer) validate() error {
	if !issuerNamePattern.MatchString(iss.Name) {
		return fmt.Errorf("issuer %q: name must be 1-63 letters, digits, '_', '.' or '-'", iss.Name)
	}
	if err := checkURL(iss.URL); err != nil {
		return fmt.Errorf("issuer %q: issuer URL: %w", iss.Name, err)
	}
	if iss.JWKS == "" {
		return fmt.Errorf("issuer %q: jwks is required", iss.Name)
	}
	if isURL(iss.JWKS) {
		if err := checkURL(iss.JWKS); err != nil {
			return fmt.Errorf("issuer %q: jwks URL: %w", iss.Name, err)
		}
	}
	if iss.Audience == "" {
		return fmt.Errorf("issuer %q: audience is required", iss.Name)
	}
	if !objectTypePattern.MatchString(iss.SubjectType) {
		return fmt.Errorf("issuer %q: subject type %q is not a valid SpiceDB object type", iss.Name, iss.SubjectType)
	}
	return nil
}

// isURL reports whether a JWKS location is fetched over HTTP rather than
// read from a file.
func isURL(location string) bool {
	return strings.HasPrefix(location, "https://") || strings.HasPrefix(location, "http://")
}

// checkURL accepts absolute http(s) URLs with a host and without user
// information or a fragment.
func checkURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return err
	}
	switch {
	case u.Scheme != "https" && u.Scheme != "http":
		return fmt.Errorf("%q is not an http(s) URL", raw)
	case u.Host == "":
		return fmt.Errorf("%q has no host", raw)
	case u.User != nil:
		return fmt.Errorf("%q must not contain user information", raw)
	case u.Fragment != "" || strings.Contains(raw, "#"):
		return fmt.Errorf("%q must not contain a fragment", raw)
	}
	return nil
}
