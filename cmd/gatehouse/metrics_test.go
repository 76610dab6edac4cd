package main

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

func TestServe_Metrics(t *testing.T) {
	addr, logs := startServeLogs(t, "--metrics-addr", "127.0.0.1:0")
	metricsAddr := logAddr(logs, "serving metrics")
	if metricsAddr == "" {
		t.Fatalf("no metrics address logged:\n%s", logs)
	}
	c := cli{t: t, addr: addr}
	c.runIn(testSchema, "schema", "write", "-")
	c.ok("rel", "write", "document:readme#viewer@user:alice")
	c.ok("check", "document:readme", "view", "user:alice")
	c.run("check", "document:readme", "view", "user:bob")

	resp, err := http.Get("http://" + metricsAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`gatehouse_requests_total{code="ok",procedure="/authzed.api.v1.PermissionsService/CheckPermission"} 2`,
		`gatehouse_check_results_total{permissionship="HAS_PERMISSION"} 1`,
		`gatehouse_check_results_total{permissionship="NO_PERMISSION"} 1`,
		"go_goroutines ",
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("scrape lacks %s", want)
		}
	}
}

func TestServe_MetricsOffByDefault(t *testing.T) {
	_, logs := startServeLogs(t)
	if addr := logAddr(logs, "serving metrics"); addr != "" {
		t.Errorf("metrics served on %s without --metrics-addr", addr)
	}
}
