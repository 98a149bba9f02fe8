package meta

import "testing"

func TestJavaDouble(t *testing.T) {
	cases := map[float64]string{
		0: "0.0", 0.5: "0.5", 1: "1.0", 0.25: "0.25", 0.001: "0.001", 0.0001: "1.0E-4",
		1.5e-5: "1.5E-5", 123.456: "123.456", 1e7: "1.0E7", 9999999: "9999999.0", 12345678.9: "1.23456789E7", -2.5: "-2.5",
	}
	for in, want := range cases {
		if got := javaDouble(in); got != want {
			t.Errorf("javaDouble(%v) = %q, want %q", in, got, want)
		}
	}
}

func TestParseValueCanonical(t *testing.T) {
	cases := []struct {
		typ       ConfigType
		raw, want string
		reason    string
	}{
		{TypeLong, " 1000 ", "1000", ""},
		{TypeLong, "+5", "5", ""},
		{TypeLong, "1e3", "", "Not a number of type LONG"},
		{TypeLong, "9223372036854775808", "", "Not a number of type LONG"},
		{TypeInt, "2147483648", "", "Not a number of type INT"},
		{TypeInt, "-2147483648", "-2147483648", ""},
		{TypeShort, "40000", "", "Not a number of type SHORT"},
		{TypeBoolean, "TRUE", "true", ""},
		{TypeBoolean, " False", "false", ""},
		{TypeBoolean, "yes", "", "Expected value to be either true or false"},
		{TypeDouble, ".50", "0.5", ""},
		{TypeDouble, "1", "1.0", ""},
		{TypeDouble, "NaN", "", "Not a number of type DOUBLE"},
		{TypeDouble, "x", "", "Not a number of type DOUBLE"},
		{TypeList, " compact , delete ", "compact,delete", ""},
		{TypeList, "  ", "", ""},
		{TypeString, " CreateTime ", "CreateTime", ""},
	}
	for _, c := range cases {
		v, reason := parseValue(c.typ, c.raw)
		if reason != c.reason || (reason == "" && v.s != c.want) {
			t.Errorf("parseValue(%v, %q) = %q, %q; want %q, %q", c.typ, c.raw, v.s, reason, c.want, c.reason)
		}
	}
}
