package main

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"

	v1 "github.com/authzed/authzed-go/proto/authzed/api/v1"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/gatehouse-dev/gatehouse/tuple"
)

func objectRef(o tuple.Object) *v1.ObjectReference {
	return &v1.ObjectReference{ObjectType: o.Type, ObjectId: o.ID}
}

func subjectRef(s tuple.Subject) *v1.SubjectReference {
	return &v1.SubjectReference{Object: objectRef(s.Object()), OptionalRelation: s.Relation}
}

// parseContext reads a --context JSON object.
func parseContext(s string) (*structpb.Struct, error) {
	if s == "" {
		return nil, nil
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		return nil, fmt.Errorf("--context: not a JSON object: %v", err)
	}
	st, err := structpb.NewStruct(m)
	if err != nil {
		return nil, fmt.Errorf("--context: %v", err)
	}
	return st, nil
}

var (
	namePart = `[a-z][a-z0-9_]{1,62}[a-z0-9](?:/[a-z][a-z0-9_]{1,62}[a-z0-9])*`
	idPart   = `[a-zA-Z0-9/_|\-=+]+|\*`
	relPart  = `[a-z][a-z0-9_]{1,62}[a-z0-9]|\.\.\.`
	filterRE = regexp.MustCompile(`^(` + namePart + `)(?::(` + idPart + `))?(?:#(` + relPart + `))?$`)
)

// parseFilter reads a relationship filter: type, type:id, type:id#relation or
// type#relation, optionally followed by @subjecttype[:id][#relation].
func parseFilter(s string) (*v1.RelationshipFilter, error) {
	res, sub, hasSub := strings.Cut(s, "@")
	m := filterRE.FindStringSubmatch(res)
	if m == nil || m[3] == tuple.Ellipsis {
		return nil, fmt.Errorf("invalid filter %q: want type[:id][#relation][@subjecttype[:id][#relation]]", s)
	}
	f := &v1.RelationshipFilter{ResourceType: m[1], OptionalResourceId: m[2], OptionalRelation: m[3]}
	if hasSub {
		sm := filterRE.FindStringSubmatch(sub)
		if sm == nil {
			return nil, fmt.Errorf("invalid filter %q: want subjecttype[:id][#relation] after @", s)
		}
		f.OptionalSubjectFilter = &v1.SubjectFilter{SubjectType: sm[1], OptionalSubjectId: sm[2]}
		if sm[3] == tuple.Ellipsis {
			f.OptionalSubjectFilter.OptionalRelation = &v1.SubjectFilter_RelationFilter{}
		} else if sm[3] != "" {
			f.OptionalSubjectFilter.OptionalRelation = &v1.SubjectFilter_RelationFilter{Relation: sm[3]}
		}
	}
	return f, nil
}
