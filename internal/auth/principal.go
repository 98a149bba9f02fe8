package auth

// Principals of TLS clients, as Kafka's DefaultKafkaPrincipalBuilder makes
// them: "User:" + the certificate subject's distinguished name in RFC 2253
// form (what Java's X500Principal.getName() returns), passed through
// ssl.principal.mapping.rules.

import (
	"crypto/x509"
	"encoding/asn1"
	"encoding/hex"
	"fmt"
	"regexp"
	"strings"
)

// Attribute keywords Java's RFC 2253 form uses; other attributes appear as
// dotted OIDs with a #hex BER value.
var dnKeywords = map[string]string{
	"2.5.4.3":                    "CN",
	"2.5.4.6":                    "C",
	"2.5.4.7":                    "L",
	"2.5.4.8":                    "ST",
	"2.5.4.10":                   "O",
	"2.5.4.11":                   "OU",
	"2.5.4.9":                    "STREET",
	"0.9.2342.19200300.100.1.25": "DC",
	"0.9.2342.19200300.100.1.1":  "UID",
}

// rawATV and rawRDNSET parse a subject keeping each value's encoding, which
// RFC 2253 prints as #hex for attributes without a keyword.
type rawATV struct {
	Type  asn1.ObjectIdentifier
	Value asn1.RawValue
}

type rawRDNSET []rawATV

// SubjectDN is the certificate subject in RFC 2253 form, most specific
// RDN first: "CN=alice,OU=eng,O=Example,C=US".
func SubjectDN(cert *x509.Certificate) string {
	var seq []rawRDNSET
	if rest, err := asn1.Unmarshal(cert.RawSubject, &seq); err != nil || len(rest) > 0 {
		return cert.Subject.String()
	}
	var b strings.Builder
	for i := len(seq) - 1; i >= 0; i-- {
		if i != len(seq)-1 {
			b.WriteByte(',')
		}
		for j, atv := range seq[i] {
			if j > 0 {
				b.WriteByte('+')
			}
			oid := atv.Type.String()
			if kw, known := dnKeywords[oid]; known {
				var s string
				if _, err := asn1.Unmarshal(atv.Value.FullBytes, &s); err == nil {
					b.WriteString(kw + "=" + escapeDNValue(s))
					continue
				}
			}
			b.WriteString(oid + "=#" + hex.EncodeToString(atv.Value.FullBytes))
		}
	}
	return b.String()
}

// escapeDNValue escapes an attribute value as RFC 2253 section 2.4 says.
func escapeDNValue(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case strings.IndexByte(`,+"\<>;`, c) >= 0,
			i == 0 && (c == ' ' || c == '#'),
			i == len(s)-1 && c == ' ':
			b.WriteByte('\\')
			b.WriteByte(c)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// PrincipalMapper applies ssl.principal.mapping.rules to a DN.
type PrincipalMapper struct {
	rules []mappingRule
}

type mappingRule struct {
	isDefault   bool
	re          *regexp.Regexp
	replacement string
	lower       bool
	upper       bool
}

// ruleSplitter is Kafka's SslPrincipalMapper RULE_SPLITTER: DEFAULT, or
// RULE:pattern/replacement/[LU], separated by commas or newlines.
var ruleSplitter = regexp.MustCompile(`\s*(DEFAULT|RULE:((\\.|[^\\/])*)/((\\.|[^\\/])*)/([LU]?).*?|(.*?))\s*([,\n]\s*|$)`)

// ParsePrincipalMappingRules parses Kafka's ssl.principal.mapping.rules
// ("DEFAULT" when empty). Patterns are Go regular expressions (RE2), which
// share Java's syntax for the usual rules; $1 in a replacement is a group.
func ParsePrincipalMappingRules(s string) (*PrincipalMapper, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		s = "DEFAULT"
	}
	pm := &PrincipalMapper{}
	for _, m := range ruleSplitter.FindAllStringSubmatch(s, -1) {
		if m[0] == "" {
			continue
		}
		if m[7] != "" {
			return nil, fmt.Errorf("ssl.principal.mapping.rules: invalid rule %q", m[7])
		}
		if m[1] == "DEFAULT" {
			pm.rules = append(pm.rules, mappingRule{isDefault: true})
			continue
		}
		if m[1] == "" {
			continue
		}
		re, err := regexp.Compile("^(?:" + m[2] + ")$")
		if err != nil {
			return nil, fmt.Errorf("ssl.principal.mapping.rules: rule %q: %w", m[1], err)
		}
		pm.rules = append(pm.rules, mappingRule{
			re:          re,
			replacement: javaReplacement(m[4]),
			lower:       m[6] == "L",
			upper:       m[6] == "U",
		})
	}
	if len(pm.rules) == 0 {
		return nil, fmt.Errorf("ssl.principal.mapping.rules %q: no rules", s)
	}
	return pm, nil
}

// javaReplacement turns Java's $1 and \x replacement syntax into Go's.
func javaReplacement(r string) string {
	var b strings.Builder
	for i := 0; i < len(r); i++ {
		switch c := r[i]; {
		case c == '\\' && i+1 < len(r):
			i++
			if r[i] == '$' {
				b.WriteString("$$")
			} else {
				b.WriteByte(r[i])
			}
		case c == '$' && i+1 < len(r) && r[i+1] >= '0' && r[i+1] <= '9':
			j := i + 1
			for j < len(r) && r[j] >= '0' && r[j] <= '9' {
				j++
			}
			b.WriteString("${" + r[i+1:j] + "}")
			i = j - 1
		case c == '$':
			b.WriteString("$$")
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// Map returns the short name for dn: the result of the first rule that
// matches. ok is false when no rule matches (Kafka then fails the
// authentication).
func (pm *PrincipalMapper) Map(dn string) (name string, ok bool) {
	for _, r := range pm.rules {
		if r.isDefault {
			return dn, true
		}
		if !r.re.MatchString(dn) {
			continue
		}
		out := r.re.ReplaceAllString(dn, r.replacement)
		switch {
		case r.lower:
			out = strings.ToLower(out)
		case r.upper:
			out = strings.ToUpper(out)
		}
		return out, true
	}
	return "", false
}
