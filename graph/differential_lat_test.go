package graph_test

import (
	"fmt"
	"github.com/gatehouse-dev/gatehouse/tuple"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestDifferentialPrint(t *testing.T) {
	seed, _ := strconv.Atoi(os.Getenv("SEED"))
	s, r := generateCase(rand.New(rand.NewPCG(uint64(seed), 0)))
	fmt.Println(s)
	fmt.Println(strings.Join(r, "\n"))
}

func TestDifferentialScratch(t *testing.T) {
	raw, _ := os.ReadFile(os.Getenv("CASE"))
	parts := strings.SplitN(string(raw), "---\n", 2)
	var rels []string
	for _, l := range strings.Split(parts[1], "\n") {
		if strings.TrimSpace(l) != "" {
			rels = append(rels, strings.TrimSpace(l))
		}
	}
	env, err := loadCase(t, diffCase{name: "scratch", schema: parts[0], rels: rels}, &diffStats{})
	if err != nil {
		t.Fatal(err)
	}
	runDiffCase(t, env)
}

func cpuNow() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func TestDifferentialTiming(t *testing.T) {
	seed, _ := strconv.Atoi(os.Getenv("SEED"))
	s, r := generateCase(rand.New(rand.NewPCG(uint64(seed), 0)))
	env, err := loadCase(t, diffCase{name: "x", schema: s, rels: r, contexts: []int{0, 1}}, &diffStats{})
	if err != nil {
		t.Fatal(err)
	}
	for _, ph := range []struct {
		n string
		f func(*testing.T)
	}{{"check", env.compareChecks}, {"lr", env.compareLookupResources}, {"ls", env.compareLookupSubjects}} {
		w, c := time.Now(), cpuNow()
		t.Run(ph.n, ph.f)
		t.Logf("%s: wall %v cpu %v", ph.n, time.Since(w), cpuNow()-c)
	}
}

// caseFails reports whether the query in QUERY differs: "LR type perm subject" or "LS type:id perm".
func caseFails(t *testing.T, schemaText string, rels []string, kind string) bool {
	f := strings.Fields(os.Getenv("QUERY"))
	bad := false
	t.Run("probe", func(t *testing.T) {
		env, err := loadCase(t, diffCase{name: "probe", schema: schemaText, rels: rels, contexts: []int{0}}, &diffStats{})
		if err != nil {
			return
		}
		ctx := t.Context()
		switch f[0] {
		case "LR":
			s, _ := tuple.ParseSubject(f[3])
			g, _ := env.gatehouseLR(ctx, f[1], f[2], s, 0)
			w, _, _ := env.spiceLR(ctx, f[1], f[2], s, 0)
			bad = setAnswer(g).canon != setAnswer(w).canon
		case "LS":
			o, _ := tuple.ParseObject(f[1])
			g, _ := env.gatehouseLS(ctx, o, f[2], 0)
			w, _, _ := env.spiceLS(ctx, o, f[2], 0)
			bad = setAnswer(g).canon != setAnswer(w).canon
			if bad {
				fmt.Println("GH", setAnswer(g), "SP", setAnswer(w))
			}
		}
	})
	return bad
}

func TestDifferentialShrink(t *testing.T) {
	raw, _ := os.ReadFile(os.Getenv("CASE"))
	parts := strings.SplitN(string(raw), "---\n", 2)
	var rels []string
	for _, l := range strings.Split(parts[1], "\n") {
		if strings.TrimSpace(l) != "" {
			rels = append(rels, strings.TrimSpace(l))
		}
	}
	kind := os.Getenv("KIND")
	if !caseFails(t, parts[0], rels, kind) {
		t.Fatal("does not fail")
	}
	for i := 0; i < len(rels); {
		cand := append(append([]string{}, rels[:i]...), rels[i+1:]...)
		if caseFails(t, parts[0], cand, kind) {
			rels = cand
			continue
		}
		i++
	}
	fmt.Println("MINIMAL:\n" + strings.Join(rels, "\n"))
}
