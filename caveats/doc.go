// Package caveats compiles and evaluates SpiceDB caveats with CEL.
//
// A caveat is a boolean CEL expression over typed parameters. Compile checks
// the expression once and caches the CEL program; Eval converts the
// JSON-like context values to the parameter types and runs the program. The
// behaviour follows SpiceDB v1.56.2:
//
//   - Parameter values are converted as SpiceDB converts them: int and uint
//     accept integral JSON numbers or numeric strings, double accepts numbers
//     or numeric strings, bytes a base64 string, duration a Go duration string
//     ("1h30m"), timestamp an RFC 3339 string, ipaddress an IP address string,
//     list and map convert each element, and any passes the value through. A
//     value that cannot be converted is an *EvalError naming the parameter.
//   - As in SpiceDB, a uint parameter is declared to CEL as int (its values are
//     CEL uints at run time), so it compares with int literals but arithmetic
//     on it fails with "no such overload".
//   - Parameters absent from the context are unknown. An expression that is
//     decided anyway is True or False; otherwise the result is Conditional and
//     lists the missing parameters the residual expression depends on.
//   - Selecting a key that a map does not hold (m.foo or m['foo']) is an
//     evaluation error ("no such key: foo"), never false. Guard optional keys
//     with has(m.foo) && m.foo == ..., or use optional syntax such as
//     m[?'foo'].orValue(default).
//   - Other run-time failures (division by zero, an invalid CIDR string given
//     to in_cidr) are evaluation errors too.
//   - ipaddress values have the method in_cidr(string) bool, and maps the
//     method isSubtreeOf(map) bool, as in SpiceDB.
//
// Gatehouse adds two things SpiceDB does not have. The reserved parameters
// caller, resource and subject are bound by the server through Bindings and
// never from a request or relationship context. Evaluation is bounded by
// CostLimit, where SpiceDB evaluates caveats without a cost limit; the limit
// is gatehouse's own, because cel-go's cost tracker is too slow to use.
package caveats
