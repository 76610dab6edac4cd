package caveats

import (
	"github.com/google/cel-go/cel"
	celast "github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/interpreter"
)

// CostLimit bounds the work of one evaluation, in expression nodes run inside
// comprehensions (all, exists, exists_one, map, filter): each iteration
// costs the node count of the macro's loop body. Code outside comprehensions
// runs each node at most once, so the expression size limit already bounds
// it. Exceeding the limit fails the evaluation with ErrCostLimit.
//
// SpiceDB sets no limit on caveats. CEL's own cel.CostLimit is not used: its
// run-time cost tracker (cel-go v0.31) takes time quadratic in the number of
// comprehension iterations, 0.5s for a 10,000-element list and 30s for
// 100,000, which would make the limit itself the denial of service.
// 1,000,000 allows all(...) over some 100,000 list elements (about 30ms).
const CostLimit uint64 = 1_000_000

// loopWeights maps the expression ID of each comprehension loop step to the
// cost of one iteration: the node count of its loop step and condition.
func loopWeights(a *cel.Ast) map[int64]uint64 {
	weights := map[int64]uint64{}
	celast.PostOrderVisit(a.NativeRep().Expr(), celast.NewExprVisitor(func(e celast.Expr) {
		if e.Kind() != celast.ComprehensionKind {
			return
		}
		comp := e.AsComprehension()
		weights[comp.LoopStep().ID()] = max(1, countNodes(comp.LoopStep())+countNodes(comp.LoopCondition()))
	}))
	return weights
}

func countNodes(e celast.Expr) uint64 {
	var n uint64
	celast.PostOrderVisit(e, celast.NewExprVisitor(func(celast.Expr) { n++ }))
	return n
}

// meterLoops returns a decorator that charges each run of a comprehension
// loop step to the evaluation's activation.
func meterLoops(weights map[int64]uint64) interpreter.InterpretableDecoratorV2 {
	return func(i interpreter.InterpretableV2) (interpreter.InterpretableV2, error) {
		if _, done := i.(*meteredStep); done {
			return i, nil
		}
		if w, ok := weights[i.ID()]; ok {
			return &meteredStep{InterpretableV2: i, weight: w}, nil
		}
		return i, nil
	}
}

// meteredStep wraps a comprehension loop step.
type meteredStep struct {
	interpreter.InterpretableV2
	weight uint64
}

// Exec charges the iteration, then runs the step. Over the limit it aborts
// the evaluation with CEL's own cancellation panic, which Program.Eval
// recovers into an error: returning an error value would not stop the loop.
func (m *meteredStep) Exec(frame *interpreter.ExecutionFrame) ref.Val {
	if a := findActivation(frame); a != nil {
		a.cost += m.weight
		if a.cost > CostLimit {
			panic(interpreter.EvalCancelledError{
				Cause:   interpreter.CostLimitExceeded,
				Message: "operation cancelled: actual cost limit exceeded",
			})
		}
	}
	return m.InterpretableV2.Exec(frame)
}

// Eval implements interpreter.Interpretable.
func (m *meteredStep) Eval(vars interpreter.Activation) ref.Val {
	return m.Exec(interpreter.AsFrame(vars))
}

// findActivation finds the evaluation's activation above the scopes that
// comprehensions push.
func findActivation(frame *interpreter.ExecutionFrame) *activation {
	for a := frame.Activation; a != nil; a = a.Parent() {
		if act, ok := a.(*activation); ok {
			return act
		}
	}
	return nil
}
