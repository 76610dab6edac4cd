package caveats

import "fmt"

// CheckContext validates a context to be stored with a relationship: every key
// must be a declared, non-reserved parameter and its value must convert to the
// parameter's type. Errors carry SpiceDB's wording.
func (c *Caveat) CheckContext(ctx map[string]any) error {
	for key, v := range ctx {
		i := c.index(key)
		if i < 0 {
			return &EvalError{Caveat: c.name, Param: key, Err: fmt.Errorf("unknown parameter `%s`", key)}
		}
		if c.reserved[i] >= 0 {
			return &EvalError{Caveat: c.name, Param: key, Err: fmt.Errorf("%w: `%s` is bound by the server", ErrReservedParameter, key)}
		}
		if _, err := c.convert[i](v); err != nil {
			return &EvalError{Caveat: c.name, Param: key, Err: fmt.Errorf("could not convert context parameter `%s`: %w", key, err)}
		}
	}
	return nil
}
