package caveats

import "fmt"

// Reserved parameter names. A caveat that declares one receives its value
// from Bindings, never from a request or relationship context.
const (
	// ParamCaller is bound to the verified token claims of the caller.
	ParamCaller = "caller"
	// ParamResource is bound to the stored attributes of the resource object.
	ParamResource = "resource"
	// ParamSubject is bound to the stored attributes of the subject object.
	ParamSubject = "subject"
)

// ReservedParams returns the reserved parameter names, in a fresh slice.
func ReservedParams() []string {
	return []string{ParamCaller, ParamResource, ParamSubject}
}

// IsReserved reports whether name is a reserved parameter name.
func IsReserved(name string) bool {
	return reservedIndex(name) >= 0
}

// reservedIndex returns 0, 1, 2 for caller, resource, subject, and -1 for
// any other name.
func reservedIndex(name string) int {
	switch name {
	case ParamCaller:
		return 0
	case ParamResource:
		return 1
	case ParamSubject:
		return 2
	}
	return -1
}

// ValidateRequestContext rejects a request context that sets a reserved
// parameter. The error wraps ErrReservedParameter and names the key.
func ValidateRequestContext(ctx map[string]any) error {
	for _, name := range [...]string{ParamCaller, ParamResource, ParamSubject} {
		if _, ok := ctx[name]; ok {
			return fmt.Errorf("context key `%s`: %w", name, ErrReservedParameter)
		}
	}
	return nil
}

// Bindings carry the reserved parameters bound by the server (never by a
// request): Caller holds the verified token claims, Resource and Subject the
// stored attributes of the relationship's resource and subject objects. A
// nil map means "not available", so a caveat that needs it is Conditional.
type Bindings struct {
	Caller, Resource, Subject map[string]any
	// Optional: the same maps' EncodeFields, which AppendKey then reads
	// instead of the maps.
	CallerFields, ResourceFields, SubjectFields Fields
}

// fields returns the encoded fields given for reserved parameter i, or nil.
func (b *Bindings) fields(i int) Fields {
	switch i {
	case 0:
		return b.CallerFields
	case 1:
		return b.ResourceFields
	case 2:
		return b.SubjectFields
	}
	return nil
}

// lookup returns the binding for the reserved parameter with index i.
func (b *Bindings) lookup(i int) (map[string]any, bool) {
	if b == nil {
		return nil, false
	}
	var m map[string]any
	switch i {
	case 0:
		m = b.Caller
	case 1:
		m = b.Resource
	case 2:
		m = b.Subject
	}
	return m, m != nil
}
