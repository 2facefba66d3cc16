package buffer

// prefixLevels is how many topic levels drops are counted under.
const prefixLevels = 2

// topicPrefix returns the first prefixLevels levels of topic.
func topicPrefix(topic string) string {
	n := 0
	for i := 0; i < len(topic); i++ {
		if topic[i] == '/' {
			n++
			if n == prefixLevels {
				return topic[:i]
			}
		}
	}
	return topic
}
