package caveats

import (
	"errors"
	"strings"
	"testing"
)

func TestCaveat_CheckContext(t *testing.T) {
	c, err := Compile("c", "x > 1 && resource.tenant == 'a'", []Param{
		{Name: "x", Type: TypeRef{Name: "int"}},
		{Name: "resource", Type: TypeRef{Name: "map", Args: []TypeRef{{Name: "any"}}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		ctx  map[string]any
		want string
	}{
		{"ok", map[string]any{"x": float64(3)}, ""},
		{"empty", nil, ""},
		{"unknown", map[string]any{"y": 1.0}, "unknown parameter `y`"},
		{"bad type", map[string]any{"x": "nope"}, "could not convert context parameter `x`"},
		{"fraction", map[string]any{"x": 1.5}, "could not convert context parameter `x`"},
		{"reserved", map[string]any{"resource": map[string]any{}}, "bound by the server"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := c.CheckContext(tt.ctx)
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var ee *EvalError
			if !errors.As(err, &ee) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
}
