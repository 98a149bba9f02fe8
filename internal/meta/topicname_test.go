package meta

import (
	"errors"
	"strings"
	"testing"
)

func TestValidateTopicName(t *testing.T) {
	cases := []struct {
		name string
		msg  string // "" = valid
	}{
		{"orders", ""},
		{"a.b_c-D9", ""},
		{"__consumer_offsets", ""},
		{"...", ""},
		{strings.Repeat("x", 249), ""},
		{"", "Topic name is illegal, it can't be empty"},
		{".", `Topic name cannot be "." or ".."`},
		{"..", `Topic name cannot be "." or ".."`},
		{strings.Repeat("x", 250), "Topic name is illegal, it can't be longer than 249 characters, topic name: " + strings.Repeat("x", 250)},
		{"a b", `Topic name "a b" is illegal, it contains a character other than ASCII alphanumerics, '.', '_' and '-'`},
		{"a/b", `Topic name "a/b" is illegal, it contains a character other than ASCII alphanumerics, '.', '_' and '-'`},
		{"tópico", `Topic name "tópico" is illegal, it contains a character other than ASCII alphanumerics, '.', '_' and '-'`},
		{"a:b", `Topic name "a:b" is illegal, it contains a character other than ASCII alphanumerics, '.', '_' and '-'`},
	}
	for _, c := range cases {
		err := ValidateTopicName(c.name)
		if c.msg == "" {
			if err != nil {
				t.Errorf("ValidateTopicName(%q) = %v, want nil", c.name, err)
			}
			continue
		}
		if !errors.Is(err, ErrInvalidTopicName) || err.Error() != c.msg {
			t.Errorf("ValidateTopicName(%q) = %v, want %q wrapping ErrInvalidTopicName", c.name, err, c.msg)
		}
	}
}
