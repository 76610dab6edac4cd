package service

import (
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
)

// Revision tokens and cursors are store-bound references:
// base64url("KIND:STOREID:REVISION[:REST]"). KIND is gh1 for ZedTokens, ghx1
// for export cursors (REST: the last relationship) and gha1 for attribute
// cursors (REST: the last object ID).

var (
	errBadRef     = errors.New("malformed reference")
	errOtherStore = errors.New("reference is for another datastore")
)

// encodeRef builds a reference of the given kind to rev in this store.
func (s *Server) encodeRef(kind string, rev int64, rest ...string) string {
	raw := kind + ":" + s.cfg.StoreID + ":" + strconv.FormatInt(rev, 10)
	for _, r := range rest {
		raw += ":" + r
	}
	return base64.RawURLEncoding.EncodeToString([]byte(raw))
}

// decodeRef parses a reference of the given kind, with a REST part when
// withRest. Errors: errBadRef, errOtherStore.
func (s *Server) decodeRef(kind, ref string, withRest bool) (int64, string, error) {
	raw, err := base64.RawURLEncoding.DecodeString(ref)
	if err != nil {
		return 0, "", errBadRef
	}
	n := 3
	if withRest {
		n = 4
	}
	parts := strings.SplitN(string(raw), ":", n)
	if len(parts) != n || parts[0] != kind {
		return 0, "", errBadRef
	}
	if parts[1] != s.cfg.StoreID {
		return 0, "", errOtherStore
	}
	rev, err := strconv.ParseInt(parts[2], 10, 64)
	if err != nil || rev < 0 {
		return 0, "", errBadRef
	}
	if withRest {
		return rev, parts[3], nil
	}
	return rev, "", nil
}
