package service

import (
	"context"
	"strings"
	"testing"

	"google.golang.org/grpc/metadata"

	"github.com/gatehouse-dev/gatehouse/identity"
	"github.com/gatehouse-dev/gatehouse/identity/identitytest"
	"github.com/gatehouse-dev/gatehouse/store"
	"github.com/gatehouse-dev/gatehouse/tuple"
)

// BenchmarkWireSubjectToken measures, over the wire with the authzed-go client
// and 16 callers, a CheckPermission carrying a signed subject token whose
// tenant claim a caveat compares with the document's stored tenant attribute,
// beside the plain uncaveated check on the same server. The token repeats, as
// a user's does across requests; the verifier and the index remember it.
func BenchmarkWireSubjectToken(b *testing.B) {
	issuer := identitytest.New(b, "corp", "gatehouse")
	v, err := identity.NewVerifier(context.Background(), []identity.Issuer{issuer.Config()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { v.Close() })
	c := startWireServerWith(b, Config{Verifier: v}, `
caveat same_tenant(caller map<any>, resource map<any>) {
	has(caller.tenant) && has(resource.tenant) && caller.tenant == resource.tenant
}

definition user {}

definition document {
	relation viewer: user | user with same_tenant
	permission view = viewer
}`, func(st store.Store) {
		if _, err := st.WriteBatch(context.Background(), store.Batch{
			Updates: []store.Update{{Op: store.OpTouch, Relationship: tuple.MustParse("document:tagged#viewer@user:alice[same_tenant]")}},
			Attributes: []store.AttributeUpdate{{Op: store.AttrSet, Object: tuple.Object{Type: "document", ID: "tagged"},
				Values: map[string]any{"tenant": "acme"}}},
		}); err != nil {
			b.Fatal(err)
		}
	}, false)
	var plain float64
	b.Run("plain", func(b *testing.B) { plain = runWireCheck(b, c, context.Background(), "d") })
	b.Run("token-caveated", func(b *testing.B) {
		ctx := metadata.AppendToOutgoingContext(context.Background(), strings.ToLower(SubjectTokenHeader),
			issuer.Token("alice", map[string]any{"tenant": "acme"}))
		if rate := runWireCheck(b, c, ctx, "tagged"); plain > 0 {
			b.ReportMetric(rate/plain, "token/plain")
		}
	})
}
