package meta

import (
	"math"
	"strconv"
	"strings"
)

// parsed is a config value parsed by Kafka's ConfigDef rules.
type parsed struct {
	s    string   // canonical rendering (ConfigDef.convertToString)
	i    int64    // INT, SHORT, LONG
	f    float64  // DOUBLE
	list []string // LIST
}

// parseValue parses raw as Kafka's ConfigDef.parseType does (values are
// trimmed; booleans are case-insensitive; lists split on commas with
// surrounding whitespace) and returns the reason text of Kafka's
// ConfigException on failure.
func parseValue(t ConfigType, raw string) (parsed, string) {
	s := strings.TrimSpace(raw)
	switch t {
	case TypeBoolean:
		switch {
		case strings.EqualFold(s, "true"):
			return parsed{s: "true", i: 1}, ""
		case strings.EqualFold(s, "false"):
			return parsed{s: "false"}, ""
		}
		return parsed{}, "Expected value to be either true or false"
	case TypeShort, TypeInt, TypeLong:
		bits := map[ConfigType]int{TypeShort: 16, TypeInt: 32, TypeLong: 64}[t]
		n, err := strconv.ParseInt(s, 10, bits)
		if err != nil {
			return parsed{}, "Not a number of type " + t.String()
		}
		return parsed{s: strconv.FormatInt(n, 10), i: n}, ""
	case TypeDouble:
		f, err := strconv.ParseFloat(strings.TrimRight(s, "dDfF"), 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return parsed{}, "Not a number of type DOUBLE"
		}
		return parsed{s: javaDouble(f), f: f}, ""
	case TypeList:
		var list []string
		if s != "" {
			for _, e := range strings.Split(s, ",") {
				list = append(list, strings.TrimSpace(e))
			}
		}
		return parsed{s: strings.Join(list, ","), list: list}, ""
	default: // STRING, CLASS, PASSWORD
		return parsed{s: s}, ""
	}
}

// javaDouble renders f as Java's Double.toString does: plain decimal with at
// least one fractional digit for 1e-3 <= |f| < 1e7, computerized scientific
// notation ("1.0E-5") otherwise.
func javaDouble(f float64) string {
	if f == 0 {
		if math.Signbit(f) {
			return "-0.0"
		}
		return "0.0"
	}
	sign := ""
	if f < 0 {
		sign, f = "-", -f
	}
	e := strconv.FormatFloat(f, 'e', -1, 64) // d[.ddd]e±XX, shortest digits
	mant, expStr, _ := strings.Cut(e, "e")
	exp, _ := strconv.Atoi(expStr)
	digits := strings.Replace(mant, ".", "", 1)
	if f >= 1e-3 && f < 1e7 {
		var intPart, frac string
		if exp >= 0 {
			for len(digits) <= exp {
				digits += "0"
			}
			intPart, frac = digits[:exp+1], digits[exp+1:]
		} else {
			intPart, frac = "0", strings.Repeat("0", -exp-1)+digits
		}
		if frac == "" {
			frac = "0"
		}
		return sign + intPart + "." + frac
	}
	frac := digits[1:]
	if frac == "" {
		frac = "0"
	}
	return sign + digits[:1] + "." + frac + "E" + strconv.Itoa(exp)
}

// canonical renders raw as Kafka would report it for a config of type t; a
// value that does not parse is returned trimmed.
func canonical(t ConfigType, raw string) string {
	if v, reason := parseValue(t, raw); reason == "" {
		return v.s
	}
	return strings.TrimSpace(raw)
}
