package service

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"strings"

	"connectrpc.com/connect"
)

// Scope is a set of permissions a preshared key grants.
type Scope uint8

// Scopes.
const (
	// ScopeCheck: Check, Lookup, Expand, Read and Watch.
	ScopeCheck Scope = 1 << iota
	// ScopeWrite: writing and deleting relationships and attributes.
	ScopeWrite
	// ScopeAdmin: schema changes.
	ScopeAdmin
	// ScopeAll grants everything.
	ScopeAll = ScopeCheck | ScopeWrite | ScopeAdmin
)

// Key is a preshared key and the scopes it grants.
type Key struct {
	Secret string
	Scopes Scope
}

// ParseKey reads "KEY" (all scopes) or "KEY:scope1,scope2" with scopes check, write, admin.
func ParseKey(s string) (Key, error) {
	secret, scopes, hasScopes := strings.Cut(s, ":")
	if secret == "" {
		return Key{}, errors.New("empty preshared key")
	}
	if !hasScopes {
		return Key{Secret: secret, Scopes: ScopeAll}, nil
	}
	k := Key{Secret: secret}
	for _, sc := range strings.Split(scopes, ",") {
		switch strings.TrimSpace(sc) {
		case "check":
			k.Scopes |= ScopeCheck
		case "write":
			k.Scopes |= ScopeWrite
		case "admin":
			k.Scopes |= ScopeAdmin
		default:
			return Key{}, fmt.Errorf("unknown scope %q (want check, write or admin)", sc)
		}
	}
	return k, nil
}

// scopeFor returns the scope a procedure needs; unknown procedures need admin.
func scopeFor(procedure string) Scope {
	switch procedure[strings.LastIndexByte(procedure, '/')+1:] {
	case "CheckPermission", "CheckBulkPermissions", "ExpandPermissionTree", "LookupResources", "LookupSubjects",
		"ReadRelationships", "ExportBulkRelationships", "ReadSchema", "Watch",
		"ReflectSchema", "DiffSchema", "ComputablePermissions", "DependentRelations",
		"ReadAttributes", "Authorize":
		return ScopeCheck
	case "WriteRelationships", "DeleteRelationships", "ImportBulkRelationships", "WriteAttributes":
		return ScopeWrite
	}
	return ScopeAdmin
}

// authorize finds the key presented in the Authorization header and checks
// that it grants what the procedure needs. Keys are compared in constant time
// (over their SHA-256 digests, so lengths do not leak) and never logged.
func (s *Server) authorize(procedure, header string) error {
	token, ok := strings.CutPrefix(header, "Bearer ")
	if !ok || token == "" {
		return connect.NewError(connect.CodeUnauthenticated, errors.New("missing or malformed authorization header: expected `Bearer <preshared key>`"))
	}
	presented := sha256.Sum256([]byte(token))
	var granted Scope
	found := 0
	for _, k := range s.cfg.Keys {
		want := sha256.Sum256([]byte(k.Secret))
		if subtle.ConstantTimeCompare(presented[:], want[:]) == 1 {
			granted |= k.Scopes
			found = 1
		}
	}
	if found == 0 {
		return connect.NewError(connect.CodeUnauthenticated, errors.New("invalid preshared key"))
	}
	need := scopeFor(procedure)
	if granted&need != need {
		return connect.NewError(connect.CodePermissionDenied, errors.New("the preshared key does not grant access to this method"))
	}
	return nil
}

type authInterceptor struct{ s *Server }

func (s *Server) authInterceptor() connect.Interceptor { return authInterceptor{s} }

func (a authInterceptor) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		if err := a.s.authorize(req.Spec().Procedure, req.Header().Get("Authorization")); err != nil {
			return nil, err
		}
		return next(ctx, req)
	}
}

func (a authInterceptor) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return next
}

func (a authInterceptor) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return func(ctx context.Context, conn connect.StreamingHandlerConn) error {
		if err := a.s.authorize(conn.Spec().Procedure, conn.RequestHeader().Get("Authorization")); err != nil {
			return err
		}
		return next(ctx, conn)
	}
}
