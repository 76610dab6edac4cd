package caveats

import (
	"fmt"
	"net/netip"
	"reflect"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
)

// ipAddressTypeName is the CEL type name of ipaddress values, as in SpiceDB.
const ipAddressTypeName = "IPAddress"

// IPAddress is the value of an ipaddress caveat parameter. It is a CEL value
// with the method in_cidr(string) bool. Contexts may hold an IPAddress or its
// string form.
type IPAddress struct {
	addr netip.Addr
}

var _ ref.Val = IPAddress{}

// ParseIPAddress parses an IPv4 or IPv6 address. IPv4-mapped IPv6 addresses
// become IPv4 addresses, so ::ffff:1.2.3.4 is in 1.2.3.0/24.
func ParseIPAddress(s string) (IPAddress, error) {
	a, err := netip.ParseAddr(s)
	if err != nil {
		return IPAddress{}, err
	}
	return IPAddress{addr: a.Unmap()}, nil
}

// Addr returns the address.
func (ip IPAddress) Addr() netip.Addr { return ip.addr }

// String returns the address in its canonical string form.
func (ip IPAddress) String() string { return ip.addr.String() }

// InCIDR reports whether the address is in the network given in CIDR
// notation; a malformed prefix is an error.
func (ip IPAddress) InCIDR(cidr string) (bool, error) {
	p, err := netip.ParsePrefix(cidr)
	if err != nil {
		return false, fmt.Errorf("invalid CIDR string: `%s`", cidr)
	}
	return p.Contains(ip.addr), nil
}

// ConvertToNative implements ref.Val; an IPAddress converts to its string.
func (ip IPAddress) ConvertToNative(t reflect.Type) (any, error) {
	if t == reflect.TypeFor[string]() {
		return ip.addr.String(), nil
	}
	return nil, fmt.Errorf("type conversion error from '%s' to '%v'", ipAddressTypeName, t)
}

// ConvertToType implements ref.Val.
func (ip IPAddress) ConvertToType(t ref.Type) ref.Val {
	switch t {
	case types.StringType:
		return types.String(ip.addr.String())
	case types.TypeType:
		return cel.OpaqueType(ipAddressTypeName)
	}
	return types.NewErr("type conversion error from '%s' to '%s'", ipAddressTypeName, t.TypeName())
}

// Equal implements ref.Val. Comparing with a value of another type is a
// "no such overload" error, as in SpiceDB.
func (ip IPAddress) Equal(other ref.Val) ref.Val {
	o, ok := other.(IPAddress)
	if !ok {
		return types.MaybeNoSuchOverloadErr(other)
	}
	return types.Bool(ip.addr == o.addr)
}

// Type implements ref.Val.
func (ip IPAddress) Type() ref.Type { return ipAddressType{} }

// Value implements ref.Val.
func (ip IPAddress) Value() any { return ip }

// ipAddressType is the run-time type of IPAddress values. It is a zero-size
// value so that Type() neither allocates nor needs a package variable.
type ipAddressType struct{}

func (ipAddressType) HasTrait(int) bool { return false }
func (ipAddressType) TypeName() string  { return ipAddressTypeName }

// ipAddressDeclType is the type ipaddress parameters are declared with. Like
// SpiceDB, parameters are declared as an object type while values report an
// opaque type of the same name; CEL matches them by name.
func ipAddressDeclType() *cel.Type { return cel.ObjectType(ipAddressTypeName) }

// ipAddressLibrary declares the in_cidr member function.
func ipAddressLibrary() cel.EnvOption {
	return cel.Function("in_cidr",
		cel.MemberOverload("ipaddress_in_cidr_string",
			[]*cel.Type{ipAddressDeclType(), cel.StringType}, cel.BoolType,
			cel.BinaryBinding(func(lhs, rhs ref.Val) ref.Val {
				ip, ok := lhs.(IPAddress)
				if !ok {
					return types.MaybeNoSuchOverloadErr(lhs)
				}
				cidr, ok := rhs.(types.String)
				if !ok {
					return types.NewErr("expected CIDR string")
				}
				in, err := ip.InCIDR(string(cidr))
				if err != nil {
					return types.WrapErr(err)
				}
				return types.Bool(in)
			}),
		),
	)
}
