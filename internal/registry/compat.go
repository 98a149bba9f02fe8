package registry

// Compatibility levels, as Confluent names them.
const (
	LevelBackward           = "BACKWARD"
	LevelBackwardTransitive = "BACKWARD_TRANSITIVE"
	LevelForward            = "FORWARD"
	LevelForwardTransitive  = "FORWARD_TRANSITIVE"
	LevelFull               = "FULL"
	LevelFullTransitive     = "FULL_TRANSITIVE"
	LevelNone               = "NONE"
)

// Modes, as Confluent names them.
const (
	ModeReadWrite        = "READWRITE"
	ModeReadOnly         = "READONLY"
	ModeReadOnlyOverride = "READONLY_OVERRIDE"
	ModeImport           = "IMPORT"
)

func validLevel(l string) bool {
	switch l {
	case LevelBackward, LevelBackwardTransitive, LevelForward, LevelForwardTransitive,
		LevelFull, LevelFullTransitive, LevelNone:
		return true
	}
	return false
}

func validMode(m string) bool {
	switch m {
	case ModeReadWrite, ModeReadOnly, ModeReadOnlyOverride, ModeImport:
		return true
	}
	return false
}

// checkLevel lists why candidate may not follow previous (oldest first)
// under level; empty means compatible. The non-transitive levels look at
// the newest previous schema only. BACKWARD: the new schema reads data
// written with the old; FORWARD: the old reads data written with the new;
// FULL: both.
func checkLevel(level string, candidate parsedSchema, previous []parsedSchema) []string {
	if level == LevelNone || len(previous) == 0 {
		return nil
	}
	transitive := level == LevelBackwardTransitive || level == LevelForwardTransitive || level == LevelFullTransitive
	if !transitive {
		previous = previous[len(previous)-1:]
	}
	backward := level == LevelBackward || level == LevelBackwardTransitive || level == LevelFull || level == LevelFullTransitive
	forward := level == LevelForward || level == LevelForwardTransitive || level == LevelFull || level == LevelFullTransitive
	var msgs []string
	// Newest first, as Confluent reports.
	for i := len(previous) - 1; i >= 0; i-- {
		old := previous[i]
		if backward {
			msgs = append(msgs, candidate.canRead(old)...)
		}
		if forward {
			msgs = append(msgs, old.canRead(candidate)...)
		}
	}
	return msgs
}
