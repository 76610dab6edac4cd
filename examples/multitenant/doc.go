// Package multitenant is an example of a multi-tenant SaaS authorized by
// gatehouse: tenant isolation, environments and data classification, decided
// by library caveats over verified token claims and stored attributes. Run
// walkthrough.sh; its test runs it too.
package multitenant
