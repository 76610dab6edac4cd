package graph_test

import (
	"fmt"
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

// caseFails reports whether the case has a mismatch of the given kind.
func caseFails(t *testing.T, schemaText string, rels []string, kind string) bool {
	ok := true
	t.Run("probe", func(t *testing.T) {
		env, err := loadCase(t, diffCase{name: "probe", schema: schemaText, rels: rels, contexts: []int{0}}, &diffStats{})
		if err != nil {
			return
		}
		switch kind {
		case "Check":
			ok = t.Run("c", env.compareChecks)
		case "LookupResources":
			ok = t.Run("c", env.compareLookupResources)
		default:
			ok = t.Run("c", env.compareLookupSubjects)
		}
	})
	return !ok
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
