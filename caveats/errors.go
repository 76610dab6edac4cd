package caveats

import (
	"errors"
	"fmt"
)

// ErrCostLimit means an evaluation exceeded CostLimit. Eval returns it
// wrapped in an *EvalError.
var ErrCostLimit = errors.New("caveat evaluation exceeded the cost limit")

// ErrReservedParameter means a request context tried to set a parameter
// that only the server binds. ValidateRequestContext returns it wrapped.
var ErrReservedParameter = errors.New("reserved caveat parameter cannot be set in a request context")

// CompileError is a caveat definition that does not compile: a malformed or
// ill-typed expression, a non-bool result, or a bad parameter declaration.
type CompileError struct {
	Caveat string
	// Line and Column locate the first problem in the expression, 1-based;
	// both are 0 when the problem has no position.
	Line, Column int
	Message      string
}

// Error returns the message with the caveat name and, if known, line:column.
func (e *CompileError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("caveat `%s`: %d:%d: %s", e.Caveat, e.Line, e.Column, e.Message)
	}
	return fmt.Sprintf("caveat `%s`: %s", e.Caveat, e.Message)
}

// EvalError is a failed evaluation. When Param is set, the context value of
// that parameter could not be converted to its type (SpiceDB's
// CAVEAT_PARAMETER_TYPE_ERROR); otherwise the expression failed at run time
// (SpiceDB's CAVEAT_EVALUATION_ERROR), possibly with ErrCostLimit.
type EvalError struct {
	Caveat string
	Param  string
	Err    error
}

// Error words the failure as SpiceDB does.
func (e *EvalError) Error() string {
	if e.Param != "" {
		return fmt.Sprintf("type error for parameters for caveat `%s`: could not convert context parameter `%s`: %v", e.Caveat, e.Param, e.Err)
	}
	return fmt.Sprintf("evaluation error for caveat `%s`: %v", e.Caveat, e.Err)
}

// Unwrap returns the underlying error.
func (e *EvalError) Unwrap() error { return e.Err }
