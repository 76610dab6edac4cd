package service_test

import (
	"context"
	"io"
	"net/http/httptest"
	"strings"
	"testing"

	"connectrpc.com/connect"
	v1 "github.com/authzed/authzed-go/proto/authzed/api/v1"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/gatehouse-dev/gatehouse/service"
	"github.com/gatehouse-dev/gatehouse/service/servicetest"
)

func TestMetrics_CountsRequestsAndChecks(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := service.NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	addr := servicetest.Start(t, service.Config{
		Keys:         []service.Key{{Secret: "k", Scopes: service.ScopeAll}},
		Interceptors: []connect.Interceptor{m.Interceptor()},
	})
	c := client(t, addr, "k")
	ctx := context.Background()
	if _, err := c.WriteSchema(ctx, &v1.WriteSchemaRequest{Schema: testSchema}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.WriteRelationships(ctx, &v1.WriteRelationshipsRequest{Updates: []*v1.RelationshipUpdate{
		{Operation: v1.RelationshipUpdate_OPERATION_TOUCH, Relationship: rel("document:readme", "viewer", "user:alice")},
	}}); err != nil {
		t.Fatal(err)
	}
	full := &v1.Consistency{Requirement: &v1.Consistency_FullyConsistent{FullyConsistent: true}}
	check := func(subject string) *v1.CheckPermissionRequest {
		r := rel("document:readme", "view", subject)
		return &v1.CheckPermissionRequest{Consistency: full, Resource: r.Resource, Permission: "view", Subject: r.Subject}
	}
	for _, s := range []string{"user:alice", "user:alice", "user:bob"} {
		if _, err := c.CheckPermission(ctx, check(s)); err != nil {
			t.Fatal(err)
		}
	}
	bad := check("user:alice")
	bad.Permission = "nosuch"
	if _, err := c.CheckPermission(ctx, bad); err == nil {
		t.Fatal("check of an unknown permission succeeded")
	}
	stream, err := c.ReadRelationships(ctx, &v1.ReadRelationshipsRequest{Consistency: full, RelationshipFilter: &v1.RelationshipFilter{ResourceType: "document"}})
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := stream.Recv(); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
	}

	rec := httptest.NewRecorder()
	promhttp.HandlerFor(reg, promhttp.HandlerOpts{}).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body := rec.Body.String()
	const perms = "/authzed.api.v1.PermissionsService/"
	for _, want := range []string{
		`gatehouse_requests_total{code="ok",procedure="/authzed.api.v1.SchemaService/WriteSchema"} 1`,
		`gatehouse_requests_total{code="ok",procedure="` + perms + `WriteRelationships"} 1`,
		`gatehouse_requests_total{code="ok",procedure="` + perms + `CheckPermission"} 3`,
		`gatehouse_requests_total{code="failed_precondition",procedure="` + perms + `CheckPermission"} 1`,
		`gatehouse_requests_total{code="ok",procedure="` + perms + `ReadRelationships"} 1`,
		`gatehouse_request_duration_seconds_count{procedure="` + perms + `CheckPermission"} 4`,
		`gatehouse_check_results_total{permissionship="HAS_PERMISSION"} 2`,
		`gatehouse_check_results_total{permissionship="NO_PERMISSION"} 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("scrape lacks %s", want)
		}
	}
	if t.Failed() {
		t.Logf("scrape:\n%s", body)
	}
}

func TestNewMetrics_RegistersOnce(t *testing.T) {
	reg := prometheus.NewRegistry()
	if _, err := service.NewMetrics(reg); err != nil {
		t.Fatal(err)
	}
	if _, err := service.NewMetrics(reg); err == nil {
		t.Error("registering the metrics twice on one registry succeeded")
	}
}
