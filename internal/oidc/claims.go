package oidc

import "time"

// Claims are the claims of a verified token.
type Claims struct {
	Issuer    string    // iss
	Subject   string    // sub; empty when absent
	Audience  []string  // aud, a single string becoming one element
	Expiry    time.Time // exp
	NotBefore time.Time // nbf; zero when absent
	IssuedAt  time.Time // iat; zero when absent

	// Raw holds every claim as decoded from JSON, except that numbers are
	// json.Number, so that large integers keep their digits.
	Raw map[string]any
}

// String returns the claim name when it is a string.
func (c *Claims) String(name string) (string, bool) {
	s, ok := c.Raw[name].(string)
	return s, ok
}

// Strings returns the claim name as a list: a string becomes one element,
// an array yields its string elements, anything else yields nil. It suits
// group claims, which providers send either way.
func (c *Claims) Strings(name string) []string {
	switch v := c.Raw[name].(type) {
	case string:
		return []string{v}
	case []any:
		out := make([]string, 0, len(v))
		for _, e := range v {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

// Email returns the "email" claim, empty when absent. Whether the provider
// checked it is EmailVerified.
func (c *Claims) Email() string {
	s, _ := c.String("email")
	return s
}

// EmailVerified reports whether "email_verified" is true. Some providers
// send it as the string "true"; that counts too.
func (c *Claims) EmailVerified() bool {
	switch v := c.Raw["email_verified"].(type) {
	case bool:
		return v
	case string:
		return v == "true"
	}
	return false
}
