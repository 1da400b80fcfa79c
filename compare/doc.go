// Package compare runs bearer beside the libraries it is measured against
// (MSAL Go, github.com/AzureAD/microsoft-authentication-library-for-go,
// and azcore's BearerTokenPolicy, github.com/Azure/azure-sdk-for-go/sdk/azcore)
// on the same loopback servers, and shows where bearer does better.
//
// It is a module of its own so that those SDKs never enter the dependency
// graph of github.com/bearerhttp/bearer. It holds only tests and benchmarks:
// each TestCompare… fails when a claim of README.md stops being true, each
// BenchmarkCompare… measures a claim about speed or memory, and each
// TestFidelity… runs MSAL Go, a production client, through a grant against
// bearer's authtest posing as Entra, so authtest stays faithful to Entra.
//
//	cd compare && go test -race .            # the claims
//	cd compare && go test -bench . -benchmem # the figures
//	cd compare && go run ./cmd/benchreport   # ../BENCHMARKS.md, in one run
package compare
