package caveats

import (
	"testing"
	"time"

	"github.com/google/cel-go/cel"
)

func TestScratchCost(t *testing.T) {
	for _, n := range []int{1000, 10000, 100000} {
		l := make([]any, n)
		for i := range l {
			l[i] = float64(i)
		}
		for _, expr := range []string{"l.all(x, x >= 0)", "l.exists(x, x < 0)", "l.map(x, x * 2).size() > 0"} {
			c := mustCompile(t, expr, Param{"l", typ("list", typ("int"))})
			start := time.Now()
			res, err := c.Eval(ctx{"l": l}, nil, nil)
			el := time.Since(start)
			// no cost tracking
			env, _ := cel.NewEnv(append(envOptions(), cel.Variable("l", cel.ListType(cel.IntType)))...)
			ast, _ := env.Compile(expr)
			prg, _ := env.Program(ast, cel.EvalOptions(cel.OptPartialEval, cel.OptTrackCost))
			cl, _ := listConverter(convertInt)(l)
			start = time.Now()
			_, det, _ := prg.Eval(map[string]any{"l": cl})
			el2 := time.Since(start)
			t.Logf("n=%d %s: %v %v in %v; tracking-only %v cost=%d", n, expr, res, err, el, el2, *det.ActualCost())
		}
	}
}
