package oauth

import (
	"runtime/debug"
	"sync"
)

// SKU is the product name sent as x-client-SKU.
const SKU = "bearer.Go"

// modulePath is the module whose version is sent as x-client-Ver.
const modulePath = "github.com/bearerhttp/bearer"

// develVersion is sent when the build carries no module version (tests, a
// checkout built in place).
const develVersion = "0.0.0-dev"

// Version returns the module's version as sent in x-client-Ver: the
// version the build recorded for github.com/bearerhttp/bearer, or
// "0.0.0-dev".
func Version() string { return version() }

var version = sync.OnceValue(func() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return develVersion
	}
	if bi.Main.Path == modulePath && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	for _, d := range bi.Deps {
		if d.Path == modulePath && d.Version != "" {
			return d.Version
		}
	}
	return develVersion
})
