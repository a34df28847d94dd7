package toolkit

import (
	"slices"
	"strings"
	"sync"

	"github.com/go-logr/logr"
)

// Cache keeps one answer of a package manager (pending upgrades,
// available versions, installed packages: a map by package name) with the
// key it was computed for, a fingerprint of the files the answer depends
// on and of what was asked. Get and Put hand out copies, values included
// when they are slices of versions, so a caller may change what it gets.
// An empty key is never cached. The zero Cache is empty and ready; it is
// safe for concurrent use.
type Cache[V any] struct {
	mu  sync.Mutex
	key string
	val map[string]V
	ok  bool
}

// Get returns a copy of the answer stored for key.
func (c *Cache[V]) Get(key string) (map[string]V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.ok || key == "" || c.key != key {
		return nil, false
	}
	return cloneMap(c.val), true
}

// Put stores m as the answer for key and returns a copy of it.
func (c *Cache[V]) Put(key string, m map[string]V) map[string]V {
	if key != "" {
		c.mu.Lock()
		c.key, c.val, c.ok = key, m, true
		c.mu.Unlock()
	}
	return cloneMap(m)
}

// CachedVersions answers the available versions of the names valid
// accepts among names (see Wanted): from c while fp and those names are
// the same, else from list, called with them sorted, whose answer c then
// keeps. No valid name is an empty answer, without calling list.
func CachedVersions(c *Cache[[]string], fp string, names []string, valid func(string) bool, log logr.Logger,
	list func(names []string) (map[string][]string, error)) (map[string][]string, error) {
	wanted := Wanted(names, valid, log)
	if len(wanted) == 0 {
		return map[string][]string{}, nil
	}
	key := fp + "\n" + strings.Join(wanted, ",")
	if avail, ok := c.Get(key); ok {
		return avail, nil
	}
	avail, err := list(wanted)
	if err != nil {
		return nil, err
	}
	return c.Put(key, avail), nil
}

// cloneMap copies m (never nil), and each value that is a []string.
func cloneMap[V any](m map[string]V) map[string]V {
	out := make(map[string]V, len(m))
	for k, v := range m {
		if vs, ok := any(v).([]string); ok {
			v = any(slices.Clone(vs)).(V)
		}
		out[k] = v
	}
	return out
}
