package topic

import "strings"

// Tree holds values of type V under topic filters, keyed per filter by K (a
// subscriber), and finds the values whose filter matches a topic name. A
// Tree is not safe for concurrent use; the caller locks.
type Tree[K comparable, V any] struct {
	root node[K, V]
	n    int
}

type node[K comparable, V any] struct {
	children map[string]*node[K, V]
	subs     map[K]V
}

// Len returns the number of (filter, key) entries in t.
func (t *Tree[K, V]) Len() int { return t.n }

// Add stores v under filter for key, replacing an earlier value for the same
// filter and key; it reports whether it replaced one. filter must be valid.
func (t *Tree[K, V]) Add(filter string, key K, v V) (replaced bool) {
	n := &t.root
	for level := range strings.SplitSeq(filter, "/") {
		c := n.children[level]
		if c == nil {
			if n.children == nil {
				n.children = make(map[string]*node[K, V])
			}
			c = &node[K, V]{}
			n.children[level] = c
		}
		n = c
	}
	if n.subs == nil {
		n.subs = make(map[K]V)
	}
	_, replaced = n.subs[key]
	n.subs[key] = v
	if !replaced {
		t.n++
	}
	return replaced
}

// Remove deletes the value stored under filter for key and reports whether
// there was one. Emptied nodes are pruned.
func (t *Tree[K, V]) Remove(filter string, key K) bool {
	return t.remove(&t.root, filter, key)
}

func (t *Tree[K, V]) remove(n *node[K, V], filter string, key K) bool {
	level, rest, more := strings.Cut(filter, "/")
	c := n.children[level]
	if c == nil {
		return false
	}
	var ok bool
	if more {
		ok = t.remove(c, rest, key)
	} else if _, ok = c.subs[key]; ok {
		delete(c.subs, key)
		t.n--
	}
	if len(c.subs) == 0 && len(c.children) == 0 {
		delete(n.children, level)
	}
	return ok
}

// Get returns the value stored under filter for key.
func (t *Tree[K, V]) Get(filter string, key K) (V, bool) {
	n := &t.root
	for level := range strings.SplitSeq(filter, "/") {
		if n = n.children[level]; n == nil {
			var zero V
			return zero, false
		}
	}
	v, ok := n.subs[key]
	return v, ok
}

// Match calls fn for every (key, value) whose filter matches topic. A key
// subscribed with several matching filters is reported once per filter.
// Topics starting with '$' are not matched by filters starting with a
// wildcard [MQTT-4.7.2-1].
func (t *Tree[K, V]) Match(topic string, fn func(K, V)) {
	dollar := topic != "" && topic[0] == '$'
	t.root.match(topic, !dollar, fn)
}

func (n *node[K, V]) match(topic string, wild bool, fn func(K, V)) {
	if wild {
		if c := n.children["#"]; c != nil {
			c.emit(fn) // '#' matches this level and all below [MQTT-4.7.1-2]
		}
	}
	level, rest, more := strings.Cut(topic, "/")
	if c := n.children[level]; c != nil {
		c.next(rest, more, fn)
	}
	if wild {
		if c := n.children["+"]; c != nil {
			c.next(rest, more, fn)
		}
	}
}

func (n *node[K, V]) next(rest string, more bool, fn func(K, V)) {
	if more {
		n.match(rest, true, fn)
		return
	}
	n.emit(fn)
	if c := n.children["#"]; c != nil {
		c.emit(fn) // "a/#" matches "a" [MQTT-4.7.1-2]
	}
}

func (n *node[K, V]) emit(fn func(K, V)) {
	for k, v := range n.subs {
		fn(k, v)
	}
}

// Walk calls fn for every entry of t with its filter.
func (t *Tree[K, V]) Walk(fn func(filter string, key K, v V)) {
	for level, c := range t.root.children {
		c.walk(level, fn)
	}
}

func (n *node[K, V]) walk(filter string, fn func(string, K, V)) {
	for k, v := range n.subs {
		fn(filter, k, v)
	}
	for level, c := range n.children {
		c.walk(filter+"/"+level, fn)
	}
}
