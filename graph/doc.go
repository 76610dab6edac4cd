// Package graph evaluates permissions over an in-memory relationship index.
package graph
