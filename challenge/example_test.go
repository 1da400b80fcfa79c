package challenge_test

import (
	"fmt"

	"github.com/bearerhttp/bearer/challenge"
)

func ExampleParse() {
	// A claims challenge as Microsoft Graph sends it after a Continuous
	// Access Evaluation event, behind a challenge of another scheme.
	h := `PoP realm="", nonce="ey==", Bearer realm="", error="insufficient_claims", ` +
		`claims="eyJhY2Nlc3NfdG9rZW4iOnsiYWNycyI6eyJlc3NlbnRpYWwiOnRydWUsInZhbHVlIjoiYzEifX19"`
	cs, err := challenge.Parse(h)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, c := range cs {
		fmt.Println(c.Scheme, "CAE:", c.IsCAE())
		if c.IsCAE() {
			claims, err := c.Claims()
			fmt.Println(claims, err)
		}
	}
	// Output:
	// PoP CAE: false
	// Bearer CAE: true
	// {"access_token":{"acrs":{"essential":true,"value":"c1"}}} <nil>
}

func ExampleParse_unquoted() {
	// Azure Storage writes its values unquoted, without commas.
	cs, _ := challenge.Parse(`Bearer authorization_uri=https://login.microsoftonline.com/{tenant}/oauth2/authorize resource_id=https://storage.azure.com`)
	fmt.Println(cs[0].Param("authorization_uri"))
	fmt.Println(cs[0].Param("resource_id"))
	// Output:
	// https://login.microsoftonline.com/{tenant}/oauth2/authorize
	// https://storage.azure.com
}

func ExampleMerge() {
	// The claims of a challenge, merged with the client capabilities an
	// application declares.
	claims, err := challenge.Merge(
		`{"access_token":{"xms_cc":{"values":["cp1"]}}}`,
		`{"access_token":{"nbf":{"essential":true,"value":"1726077595"}}}`,
	)
	fmt.Println(claims, err)
	// Output:
	// {"access_token":{"nbf":{"essential":true,"value":"1726077595"},"xms_cc":{"values":["cp1"]}}} <nil>
}
