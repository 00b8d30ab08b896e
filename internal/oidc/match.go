package oidc

import (
	"encoding/json"
	"strconv"
)

// Match reports whether verified claims satisfy a workload trust rule.
//
// Every key of rule names a top-level claim, and every one must match; an
// empty rule matches nothing, so that a rule without conditions cannot
// admit every token an issuer signs (a public CI issuer signs tokens for
// anyone's jobs). A rule value matches a claim value that is:
//
//   - a string equal to it, case-sensitively, where each "*" in the rule
//     value stands for any run of characters, "/" and ":" included, and
//     nothing else is special ("acme/*" matches "acme/deploy");
//   - a number or a boolean whose JSON text matches it the same way
//     ("1", "true");
//   - an array with at least one element of those kinds that matches.
//
// A missing claim, null, an object, or an array without a matching element
// never matches. Nested claims (Kubernetes' "kubernetes.io") cannot be
// named; match on "sub" instead.
func Match(c *Claims, rule map[string]string) bool {
	if c == nil || len(rule) == 0 {
		return false
	}
	for name, pattern := range rule {
		if !matchValue(c.Raw[name], pattern, true) {
			return false
		}
	}
	return true
}

func matchValue(v any, pattern string, top bool) bool {
	switch v := v.(type) {
	case string:
		return glob(pattern, v)
	case json.Number:
		return glob(pattern, v.String())
	case float64: // claims decoded without UseNumber
		return glob(pattern, strconv.FormatFloat(v, 'f', -1, 64))
	case bool:
		return glob(pattern, strconv.FormatBool(v))
	case []any:
		if !top {
			return false
		}
		for _, e := range v {
			if matchValue(e, pattern, false) {
				return true
			}
		}
	}
	return false
}

// glob reports whether s matches pattern, in which "*" matches any run of
// characters, possibly empty. It runs in O(len(pattern)*len(s)) at worst.
func glob(pattern, s string) bool {
	p, i := 0, 0
	star, mark := -1, 0 // last "*" seen in pattern, and where in s it began
	for i < len(s) {
		switch {
		case p < len(pattern) && pattern[p] == '*':
			star, mark = p, i
			p++
		case p < len(pattern) && pattern[p] == s[i]:
			p++
			i++
		case star >= 0:
			// Let the last star swallow one more byte and retry.
			mark++
			p, i = star+1, mark
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}
