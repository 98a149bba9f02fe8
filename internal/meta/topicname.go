package meta

import "strconv"

// MaxTopicNameLength is Kafka's limit on topic names.
const MaxTopicNameLength = 249

// ValidateTopicName applies Kafka's topic name rules (Topic.validate):
// non-empty, not "." or "..", at most 249 characters, and only ASCII
// alphanumerics, '.', '_' and '-'. Errors wrap ErrInvalidTopicName and read
// as Kafka's messages. Kafka's warning about '.'/'_' collisions is not
// applied here.
func ValidateTopicName(name string) error {
	switch {
	case name == "":
		return newKafkaError(ErrInvalidTopicName, "Topic name is illegal, it can't be empty")
	case name == "." || name == "..":
		return newKafkaError(ErrInvalidTopicName, `Topic name cannot be "." or ".."`)
	case len(name) > MaxTopicNameLength:
		return newKafkaError(ErrInvalidTopicName, "Topic name is illegal, it can't be longer than "+
			strconv.Itoa(MaxTopicNameLength)+" characters, topic name: "+name)
	}
	for i := 0; i < len(name); i++ {
		if !legalTopicByte(name[i]) {
			return newKafkaError(ErrInvalidTopicName, `Topic name "`+name+
				`" is illegal, it contains a character other than ASCII alphanumerics, '.', '_' and '-'`)
		}
	}
	return nil
}

func legalTopicByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-'
}
