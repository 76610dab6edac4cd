package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"
)

// roundResult is what one system did in one timed round.
type roundResult struct {
	requests int // answered without error
	errors   int
	wrong    int // answered, but not as the scenario expects
	items    int // items in the requests answered (bulk checks, relationships)
	elapsed  time.Duration
	cpu      time.Duration // the server process's CPU time during the round
	lat      Latencies
	firstErr error
}

func (r *roundResult) merge(o *roundResult) {
	r.requests += o.requests
	r.errors += o.errors
	r.wrong += o.wrong
	r.items += o.items
	r.elapsed += o.elapsed
	r.cpu += o.cpu
	r.lat.Merge(&o.lat)
	if r.firstErr == nil {
		r.firstErr = o.firstErr
	}
}

// runRound drives sys with concurrency callers for d and records every
// request. Callers start spread over the workload's requests.
func runRound(ctx context.Context, sys *System, w Workload, concurrency int, d time.Duration) *roundResult {
	per := make([]roundResult, concurrency)
	var wg sync.WaitGroup
	start := time.Now()
	deadline := start.Add(d)
	for g := range concurrency {
		wg.Go(func() {
			r := &per[g]
			c := sys.Client(g)
			n, items := w.Size(), itemsPerRequest(w)
			i := g * n / concurrency
			for ctx.Err() == nil {
				t0 := time.Now()
				if !t0.Before(deadline) {
					return
				}
				ok, err := w.Do(ctx, c, i)
				lat := time.Since(t0)
				switch {
				case err != nil:
					r.errors++
					if r.firstErr == nil {
						r.firstErr = err
					}
				default:
					r.requests++
					r.items += items
					r.lat.Add(lat)
					if !ok {
						r.wrong++
					}
				}
				if i++; i == n {
					i = 0
				}
			}
		})
	}
	wg.Wait()
	out := &roundResult{}
	for g := range per {
		out.merge(&per[g])
	}
	out.elapsed = time.Since(start)
	return out
}

// schedule returns the order systems run in, round by round: ABBA, so that a
// trend in machine load over the run hits every system alike.
func schedule(n, rounds int) [][]int {
	out := make([][]int, rounds)
	for r := range rounds {
		order := make([]int, n)
		for i := range order {
			order[i] = i
		}
		if r%2 == 1 {
			slices.Reverse(order)
		}
		out[r] = order
	}
	return out
}

// runInterleaved warms every system up, then runs cfg.Rounds timed rounds per
// system in ABBA order, each of cfg.Duration/(rounds*systems). A server's CPU
// time is sampled before and after each of its timed rounds; its peak RSS is
// read after the last.
func runInterleaved(ctx context.Context, cfg Config, systems []*System, w Workload, progress io.Writer) ([]Result, error) {
	if cfg.Warmup > 0 {
		for _, sys := range systems {
			runRound(ctx, sys, w, cfg.Concurrency, cfg.Warmup)
		}
	}
	roundDur := cfg.Duration / time.Duration(cfg.Rounds*len(systems))
	totals := make([]roundResult, len(systems))
	roundRPS := make([][]float64, len(systems))
	step, steps := 0, cfg.Rounds*len(systems)
	for _, order := range schedule(len(systems), cfg.Rounds) {
		for _, si := range order {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			step++
			cpu0, err := systems[si].CPU()
			if err != nil {
				return nil, err
			}
			r := runRound(ctx, systems[si], w, cfg.Concurrency, roundDur)
			cpu1, err := systems[si].CPU()
			if err != nil {
				return nil, err
			}
			r.cpu = cpu1 - cpu0
			rps := float64(r.requests) / r.elapsed.Seconds()
			roundRPS[si] = append(roundRPS[si], rps)
			if progress != nil {
				fmt.Fprintf(progress, "round %d/%d %-18s %s %8.0f req/s  p99 %-9s errors %d\n",
					step, steps, systems[si].Name, w.Name(), rps, fmtDur(r.lat.Percentile(99)), r.errors)
			}
			totals[si].merge(r)
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, err // the last round was cut short
	}
	out := make([]Result, len(systems))
	for i, sys := range systems {
		rss, err := sys.PeakRSS()
		if err != nil {
			return nil, err
		}
		out[i] = newResult(sys, w.Name(), &totals[i], roundRPS[i], rss)
	}
	return out, nil
}
