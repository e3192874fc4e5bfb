package config

import (
	"os"
	"slices"
	"strings"
	"sync"
)

// LenientEnv validates documents that are stored for other processes
// (the connector store): it resolves ${VAR} from env (os.LookupEnv when
// nil) where set, and with a stand-in value elsewhere, because the
// instances that run the connector, not the command that stores it, hold
// the secrets. Unset lists the variables it stood in for.
type LenientEnv struct {
	Env LookupEnv

	mu    sync.Mutex
	unset []string
}

// Lookup is the LookupEnv to pass to Parse or LoadFile.
func (l *LenientEnv) Lookup(name string) (string, bool) {
	env := l.Env
	if env == nil {
		env = os.LookupEnv
	}
	if v, ok := env(name); ok && v != "" {
		return v, true
	}
	l.mu.Lock()
	if !slices.Contains(l.unset, name) {
		l.unset = append(l.unset, name)
	}
	l.mu.Unlock()
	return "stand-in-for-" + strings.ToLower(name), true
}

// Unset returns the variables not set here, sorted.
func (l *LenientEnv) Unset() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Sorted(slices.Values(l.unset))
}
