package coordkey

import "testing"

func TestPartition(t *testing.T) {
	// Values from Java: "".hashCode()=0, "a"=97, "group"=98629247,
	// "polygenelubricants".hashCode()=Integer.MIN_VALUE (Utils.abs → 0),
	// "é"=233 (one UTF-16 unit), "😀"=0xD83D*31+0xDE00 (two units).
	for _, tc := range []struct {
		key  string
		want int32
	}{{"", 0}, {"a", 97 % 50}, {"group", 98629247 % 50}, {"polygenelubricants", 0}, {"é", 233 % 50}, {"😀", (0xD83D*31 + 0xDE00) % 50}} {
		if got := Partition(tc.key, 50); got != tc.want {
			t.Errorf("Partition(%q) = %d, want %d", tc.key, got, tc.want)
		}
	}
	if h := javaStringHashCode("polygenelubricants"); h != -1<<31 {
		t.Errorf("hash %d", h)
	}
}
