package auth

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"math/big"
	"testing"
)

func certWithSubject(t *testing.T, subject pkix.Name) *x509.Certificate {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: subject}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return c
}

func TestSubjectDN(t *testing.T) {
	for _, c := range []struct {
		name pkix.Name
		want string
	}{
		{pkix.Name{CommonName: "alice"}, "CN=alice"},
		{pkix.Name{CommonName: "alice", OrganizationalUnit: []string{"eng"}, Organization: []string{"Example, Inc."}, Country: []string{"US"}},
			`CN=alice,OU=eng,O=Example\, Inc.,C=US`},
		{pkix.Name{CommonName: " #lead", Locality: []string{"a+b"}}, `CN=\ #lead,L=a\+b`},
		{pkix.Name{CommonName: "x", ExtraNames: []pkix.AttributeTypeAndValue{
			{Type: asn1.ObjectIdentifier{0, 9, 2342, 19200300, 100, 1, 25}, Value: "example"},
			{Type: asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 1}, Value: "a@b"},
		}}, "1.2.840.113549.1.9.1=#0c03614062,DC=example,CN=x"},
	} {
		if got := SubjectDN(certWithSubject(t, c.name)); got != c.want {
			t.Errorf("got %q, want %q", got, c.want)
		}
	}
}

func TestPrincipalMappingRules(t *testing.T) {
	rules := `RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/,
	RULE:^CN=(.*?),OU=(.*?),O=(.*?),L=(.*?),ST=(.*?),C=(.*?)$/$1@$2/L,
	RULE:^.*[Cc][Nn]=([a-zA-Z0-9.]*).*$/$1/U,
	DEFAULT`
	pm, err := ParsePrincipalMappingRules(rules)
	if err != nil {
		t.Fatal(err)
	}
	for dn, want := range map[string]string{
		"CN=kafka-svc,OU=ServiceUsers,O=Org":          "kafka-svc",
		"CN=Duke,OU=JavaSoft,O=Sun,L=Palo,ST=CA,C=US": "duke@javasoft",
		"OU=x,cn=client.one,O=y":                      "CLIENT.ONE",
		"O=no-cn":                                     "O=no-cn",
	} {
		if got, ok := pm.Map(dn); !ok || got != want {
			t.Errorf("%q: got %q %v, want %q", dn, got, ok, want)
		}
	}
	only, _ := ParsePrincipalMappingRules(`RULE:^CN=(.*)$/$1/`)
	if _, ok := only.Map("O=x"); ok {
		t.Error("a DN no rule matches was mapped")
	}
	if def, err := ParsePrincipalMappingRules(""); err != nil || mustMap(def, "CN=a") != "CN=a" {
		t.Errorf("empty rules: %v", err)
	}
	for _, bad := range []string{"RULE:(/x/", "NOPE"} {
		if _, err := ParsePrincipalMappingRules(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func mustMap(pm *PrincipalMapper, dn string) string { s, _ := pm.Map(dn); return s }
