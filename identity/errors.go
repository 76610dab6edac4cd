package identity

import "fmt"

// Reason classifies why Verify refused a token.
type Reason int

// The reasons Verify refuses a token.
const (
	// ReasonMalformed: not a compact JWS, too large, undecodable, or a
	// registered claim of the wrong type or missing (exp).
	ReasonMalformed Reason = iota + 1
	// ReasonUnknownIssuer: the "iss" claim names no configured issuer.
	ReasonUnknownIssuer
	// ReasonBadSignature: the signature does not verify with the issuer's
	// keys, the algorithm is not allowed, or no key has the token's key ID
	// even after a refresh.
	ReasonBadSignature
	// ReasonExpired: "exp" is in the past, beyond the leeway.
	ReasonExpired
	// ReasonNotYetValid: "nbf" or "iat" is in the future, beyond the leeway.
	ReasonNotYetValid
	// ReasonWrongAudience: "aud" does not contain the issuer's audience.
	ReasonWrongAudience
	// ReasonMissingSubject: "sub" is missing, empty, "*" or not a valid
	// SpiceDB object ID.
	ReasonMissingSubject
	// ReasonKeysUnavailable: the token names a key ID that is not known and
	// the issuer's key set could not be refreshed; retrying later may help.
	ReasonKeysUnavailable
)

// String returns a short lowercase name such as "expired".
func (r Reason) String() string {
	switch r {
	case ReasonMalformed:
		return "malformed"
	case ReasonUnknownIssuer:
		return "unknown issuer"
	case ReasonBadSignature:
		return "bad signature"
	case ReasonExpired:
		return "expired"
	case ReasonNotYetValid:
		return "not yet valid"
	case ReasonWrongAudience:
		return "wrong audience"
	case ReasonMissingSubject:
		return "missing subject"
	case ReasonKeysUnavailable:
		return "keys unavailable"
	default:
		return fmt.Sprintf("reason(%d)", int(r))
	}
}

// Error is a refused token. Its message is safe to show to the client that
// sent the token: Err only ever describes the token itself, never key
// material or where the keys come from.
type Error struct {
	Reason Reason
	Err    error
}

// Error returns "subject token <reason>: <detail>".
func (e *Error) Error() string {
	if e.Err == nil {
		return "subject token " + e.Reason.String()
	}
	return fmt.Sprintf("subject token %s: %v", e.Reason, e.Err)
}

// Unwrap returns the detail.
func (e *Error) Unwrap() error { return e.Err }

// refuse builds an *Error from a reason and a detail message.
func refuse(r Reason, format string, args ...any) *Error {
	return &Error{Reason: r, Err: fmt.Errorf(format, args...)}
}
