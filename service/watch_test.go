package service_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	v1 "github.com/authzed/authzed-go/proto/authzed/api/v1"
	authzed "github.com/authzed/authzed-go/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/gatehouse-dev/gatehouse/service"
)

func updateStrings(us []*v1.RelationshipUpdate) []string {
	out := make([]string, len(us))
	for i, u := range us {
		op := "TOUCH"
		if u.Operation == v1.RelationshipUpdate_OPERATION_DELETE {
			op = "DELETE"
		}
		out[i] = op + " " + relStrings([]*v1.Relationship{u.Relationship})[0]
	}
	return out
}

func TestWatch(t *testing.T) {
	addr := startServer(t, service.Key{Secret: "k", Scopes: service.ScopeAll})
	runWatch(t, addr, addr)
}

// TestWatch_Postgres writes through one replica and watches through another.
func TestWatch_Postgres(t *testing.T) {
	a, b := postgresReplicas(t)
	runWatch(t, a, b)
}

// runWatch writes through writeAddr and watches through watchAddr.
func runWatch(t *testing.T, writeAddr, watchAddr string) {
	ctx := context.Background()
	c := client(t, writeAddr, "k")
	wc := client(t, watchAddr, "k")
	ws, err := c.WriteSchema(ctx, &v1.WriteSchemaRequest{Schema: testSchema})
	if err != nil {
		t.Fatal(err)
	}
	write := func(ups ...*v1.RelationshipUpdate) *v1.ZedToken {
		t.Helper()
		r, err := c.WriteRelationships(ctx, &v1.WriteRelationshipsRequest{Updates: ups})
		if err != nil {
			t.Fatal(err)
		}
		return r.WrittenAt
	}
	touch := func(r *v1.Relationship) *v1.RelationshipUpdate {
		return &v1.RelationshipUpdate{Operation: v1.RelationshipUpdate_OPERATION_TOUCH, Relationship: r}
	}
	del := func(r *v1.Relationship) *v1.RelationshipUpdate {
		return &v1.RelationshipUpdate{Operation: v1.RelationshipUpdate_OPERATION_DELETE, Relationship: r}
	}
	w1 := write(touch(rel("document:a", "viewer", "user:alice")), touch(rel("group:eng", "member", "user:bob")))
	w2 := write(del(rel("document:a", "viewer", "user:alice")), touch(rel("document:a", "banned", "user:carol")))
	w3 := write(touch(rel("group:ops", "member", "group:eng#member")))

	// watch collects n responses of a Watch from the schema write.
	watch := func(t *testing.T, req *v1.WatchRequest, n int) []*v1.WatchResponse {
		t.Helper()
		wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		s, err := wc.Watch(wctx, req)
		if err != nil {
			t.Fatal(err)
		}
		var out []*v1.WatchResponse
		for len(out) < n {
			r, err := s.Recv()
			if err != nil {
				t.Fatalf("after %d responses: %v", len(out), err)
			}
			out = append(out, r)
		}
		return out
	}

	t.Run("every revision from the cursor", func(t *testing.T) {
		got := watch(t, &v1.WatchRequest{OptionalStartCursor: ws.WrittenAt}, 3)
		want := []struct {
			token   *v1.ZedToken
			updates string
		}{
			{w1, "[TOUCH document:a#viewer@user:alice TOUCH group:eng#member@user:bob]"},
			{w2, "[DELETE document:a#viewer@user:alice TOUCH document:a#banned@user:carol]"},
			{w3, "[TOUCH group:ops#member@group:eng#member]"},
		}
		for i, w := range want {
			if got[i].ChangesThrough.GetToken() != w.token.GetToken() {
				t.Errorf("response %d: changes_through %v, want %v", i, got[i].ChangesThrough, w.token)
			}
			us := updateStrings(got[i].Updates)
			// Updates within a revision carry no order; compare as sets.
			if len(us) == 2 && us[0] > us[1] {
				us[0], us[1] = us[1], us[0]
			}
			if fmt.Sprint(us) != w.updates {
				t.Errorf("response %d: updates %v, want %v", i, us, w.updates)
			}
		}
	})
	t.Run("resumes after the cursor", func(t *testing.T) {
		got := watch(t, &v1.WatchRequest{OptionalStartCursor: w2}, 1)
		if got[0].ChangesThrough.GetToken() != w3.GetToken() {
			t.Fatalf("first response after w2 is through %v, want w3 %v", got[0].ChangesThrough, w3)
		}
	})
	t.Run("object types", func(t *testing.T) {
		got := watch(t, &v1.WatchRequest{OptionalStartCursor: ws.WrittenAt, OptionalObjectTypes: []string{"group"}}, 2)
		if us := fmt.Sprint(updateStrings(got[0].Updates), updateStrings(got[1].Updates)); us != "[TOUCH group:eng#member@user:bob] [TOUCH group:ops#member@group:eng#member]" {
			t.Fatalf("group updates = %s", us)
		}
		if got[1].ChangesThrough.GetToken() != w3.GetToken() {
			t.Fatalf("revision without group updates was sent: %v", got[1].ChangesThrough)
		}
	})
	t.Run("relationship filters", func(t *testing.T) {
		got := watch(t, &v1.WatchRequest{OptionalStartCursor: ws.WrittenAt, OptionalRelationshipFilters: []*v1.RelationshipFilter{
			{ResourceType: "document", OptionalRelation: "banned"},
			{OptionalSubjectFilter: &v1.SubjectFilter{SubjectType: "group"}},
		}}, 2)
		if us := fmt.Sprint(updateStrings(got[0].Updates), updateStrings(got[1].Updates)); us != "[TOUCH document:a#banned@user:carol] [TOUCH group:ops#member@group:eng#member]" {
			t.Fatalf("filtered updates = %s", us)
		}
	})
	t.Run("schema updates and checkpoints", func(t *testing.T) {
		wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		s, err := wc.Watch(wctx, &v1.WatchRequest{OptionalStartCursor: w3, OptionalUpdateKinds: []v1.WatchKind{
			v1.WatchKind_WATCH_KIND_INCLUDE_SCHEMA_UPDATES, v1.WatchKind_WATCH_KIND_INCLUDE_CHECKPOINTS}})
		if err != nil {
			t.Fatal(err)
		}
		w4, err := c.WriteSchema(ctx, &v1.WriteSchemaRequest{Schema: testSchema + "\n\ndefinition folder {}"})
		if err != nil {
			t.Fatal(err)
		}
		first, err := s.Recv()
		if err != nil {
			t.Fatal(err)
		}
		second, err := s.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if !first.SchemaUpdated || first.ChangesThrough.GetToken() != w4.WrittenAt.GetToken() {
			t.Errorf("first response = %v, want schema_updated through %v", first, w4.WrittenAt)
		}
		if !second.IsCheckpoint || second.ChangesThrough.GetToken() != w4.WrittenAt.GetToken() {
			t.Errorf("second response = %v, want a checkpoint through %v", second, w4.WrittenAt)
		}
	})

	errTests := []struct {
		name string
		req  *v1.WatchRequest
		code codes.Code
	}{
		{"types and filters together", &v1.WatchRequest{OptionalObjectTypes: []string{"document"}, OptionalRelationshipFilters: []*v1.RelationshipFilter{{ResourceType: "document"}}}, codes.InvalidArgument},
		{"unknown definition in filter", &v1.WatchRequest{OptionalRelationshipFilters: []*v1.RelationshipFilter{{ResourceType: "nope"}}}, codes.FailedPrecondition},
		{"unknown relation in filter", &v1.WatchRequest{OptionalRelationshipFilters: []*v1.RelationshipFilter{{ResourceType: "document", OptionalRelation: "nope"}}}, codes.FailedPrecondition},
		{"empty filter", &v1.WatchRequest{OptionalRelationshipFilters: []*v1.RelationshipFilter{{}}}, codes.InvalidArgument},
		{"garbage cursor", &v1.WatchRequest{OptionalStartCursor: &v1.ZedToken{Token: "garbage"}}, codes.InvalidArgument},
	}
	for _, tt := range errTests {
		t.Run(tt.name, func(t *testing.T) {
			if err := watchErr(ctx, wc, tt.req); status.Code(err) != tt.code {
				t.Fatalf("code = %v (%v), want %v", status.Code(err), err, tt.code)
			}
		})
	}
}

// watchErr starts a Watch and returns the error it ends with.
func watchErr(ctx context.Context, c *authzed.Client, req *v1.WatchRequest) error {
	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	s, err := c.Watch(wctx, req)
	if err != nil {
		return err
	}
	for {
		if _, err := s.Recv(); err != nil {
			return err
		}
	}
}

func TestWatch_StaleCursor(t *testing.T) {
	addr := startServerWith(t, service.Config{Keys: []service.Key{{Secret: "k", Scopes: service.ScopeAll}}, GCWindow: 200 * time.Millisecond})
	c := client(t, addr, "k")
	ctx := context.Background()
	ws, err := c.WriteSchema(ctx, &v1.WriteSchemaRequest{Schema: testSchema})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		if _, err := c.WriteRelationships(ctx, &v1.WriteRelationshipsRequest{Updates: []*v1.RelationshipUpdate{
			{Operation: v1.RelationshipUpdate_OPERATION_TOUCH, Relationship: rel(fmt.Sprintf("document:d%d", i), "viewer", "user:a")},
		}}); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		wctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		err := watchErr(wctx, c, &v1.WatchRequest{OptionalStartCursor: ws.WrittenAt})
		cancel()
		if status.Code(err) == codes.OutOfRange {
			return // SpiceDB's code for a start revision that left the history
		}
		if time.Now().After(deadline) {
			t.Fatalf("watch from a collected revision: %v, want OutOfRange", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
