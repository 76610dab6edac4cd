package service_test

import (
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/service"
)

// restCall POSTs a JSON body to one of SpiceDB's REST paths and returns the
// status and decoded JSON response.
func restCall(t *testing.T, addr, key, path, body string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, "http://"+addr+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("%s: status %d, body %q: %v", path, resp.StatusCode, raw, err)
	}
	return resp.StatusCode, out
}

func TestServer_REST(t *testing.T) {
	addr := startServer(t, service.Key{Secret: "k", Scopes: service.ScopeAll}, service.Key{Secret: "ro", Scopes: service.ScopeCheck})
	schemaJSON, _ := json.Marshal(map[string]string{"schema": testSchema})

	mustOK := func(path, key, body string) map[string]any {
		t.Helper()
		code, out := restCall(t, addr, key, path, body)
		if code != http.StatusOK {
			t.Fatalf("%s: status %d, body %v", path, code, out)
		}
		return out
	}
	mustOK("/v1/schema/write", "k", string(schemaJSON))
	if got := mustOK("/v1/schema/read", "k", `{}`)["schemaText"]; got != testSchema {
		t.Fatalf("schema/read schemaText = %q", got)
	}
	w := mustOK("/v1/relationships/write", "k", `{"updates":[{"operation":"OPERATION_CREATE","relationship":{
		"resource":{"objectType":"document","objectId":"d"},"relation":"viewer",
		"subject":{"object":{"objectType":"user","objectId":"alice"}}}}]}`)
	token, _ := w["writtenAt"].(map[string]any)["token"].(string)
	if token == "" {
		t.Fatalf("relationships/write: no writtenAt token in %v", w)
	}

	check := func(key, subj string) (int, map[string]any) {
		return restCall(t, addr, key, "/v1/permissions/check", `{
			"consistency":{"atLeastAsFresh":{"token":"`+token+`"}},
			"resource":{"objectType":"document","objectId":"d"},"permission":"view",
			"subject":{"object":{"objectType":"user","objectId":"`+subj+`"}}}`)
	}
	tests := []struct {
		name, key, subj string
		wantCode        int
		wantPerm        string
	}{
		{"granted", "k", "alice", http.StatusOK, "PERMISSIONSHIP_HAS_PERMISSION"},
		{"denied", "ro", "bob", http.StatusOK, "PERMISSIONSHIP_NO_PERMISSION"},
		{"missing key", "", "alice", http.StatusUnauthorized, ""},
		{"wrong key", "nope", "alice", http.StatusUnauthorized, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out := check(tt.key, tt.subj)
			if code != tt.wantCode {
				t.Fatalf("status %d, want %d (body %v)", code, tt.wantCode, out)
			}
			if tt.wantPerm != "" && out["permissionship"] != tt.wantPerm {
				t.Fatalf("permissionship = %v, want %s", out["permissionship"], tt.wantPerm)
			}
		})
	}

	t.Run("scope", func(t *testing.T) {
		code, out := restCall(t, addr, "ro", "/v1/schema/write", string(schemaJSON))
		if code != http.StatusForbidden {
			t.Fatalf("schema/write with a check-only key: status %d (body %v)", code, out)
		}
	})
}

func TestServer_RESTStream(t *testing.T) {
	addr := startServer(t, service.Key{Secret: "k", Scopes: service.ScopeAll})
	schemaJSON, _ := json.Marshal(map[string]string{"schema": testSchema})
	if code, out := restCall(t, addr, "k", "/v1/schema/write", string(schemaJSON)); code != http.StatusOK {
		t.Fatalf("schema/write: %d %v", code, out)
	}
	if code, out := restCall(t, addr, "k", "/v1/relationships/write", `{"updates":[
		{"operation":"OPERATION_CREATE","relationship":{"resource":{"objectType":"document","objectId":"a"},"relation":"viewer","subject":{"object":{"objectType":"user","objectId":"alice"}}}},
		{"operation":"OPERATION_CREATE","relationship":{"resource":{"objectType":"document","objectId":"b"},"relation":"viewer","subject":{"object":{"objectType":"user","objectId":"alice"}}}}]}`); code != http.StatusOK {
		t.Fatalf("relationships/write: %d %v", code, out)
	}
	lookup := `{"consistency":{"fullyConsistent":true},"resourceObjectType":"document","permission":"view","subject":{"object":{"objectType":"user","objectId":"alice"}}}`

	tests := []struct {
		name, key, path, body string
		wantCode              int
		wantIDs               string // resourceObjectId of each result line
	}{
		{"lookup resources", "k", "/v1/permissions/resources", lookup, http.StatusOK, "a,b"},
		{"missing key", "", "/v1/permissions/resources", lookup, http.StatusUnauthorized, ""},
		{"bad request", "k", "/v1/permissions/resources", `{"resourceObjectType":"nope","permission":"view","subject":{"object":{"objectType":"user","objectId":"alice"}}}`, http.StatusBadRequest, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, "http://"+addr+tt.path, strings.NewReader(tt.body))
			req.Header.Set("Content-Type", "application/json")
			if tt.key != "" {
				req.Header.Set("Authorization", "Bearer "+tt.key)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			raw, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.wantCode {
				t.Fatalf("status %d, want %d (body %s)", resp.StatusCode, tt.wantCode, raw)
			}
			if tt.wantCode != http.StatusOK {
				var st struct{ Code int }
				if err := json.Unmarshal(raw, &st); err != nil || st.Code == 0 {
					t.Fatalf("error body %s: %v", raw, err)
				}
				return
			}
			var ids []string
			for _, line := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
				var msg struct {
					Result struct {
						ResourceObjectID string `json:"resourceObjectId"`
					} `json:"result"`
				}
				if err := json.Unmarshal([]byte(line), &msg); err != nil {
					t.Fatalf("line %q: %v", line, err)
				}
				ids = append(ids, msg.Result.ResourceObjectID)
			}
			slices.Sort(ids)
			if got := strings.Join(ids, ","); got != tt.wantIDs {
				t.Fatalf("ids = %s, want %s (body %s)", got, tt.wantIDs, raw)
			}
		})
	}
}
