package reconcile

import (
	"reflect"
	"sort"
)

// Prefer says which side wins a field both sides changed.
type Prefer string

// The sides.
const (
	PreferLocal  Prefer = "local"
	PreferRemote Prefer = "remote"
)

// Merge is a three-way merge of the record: base is what was last
// synced, local what extsync would send now, remote what the system
// holds. A field only one side changed takes that side; a field both
// changed the same way takes that value; a field both changed apart
// follows prefer (by field name), or is returned in conflicts when no
// rule decides. Nested objects merge field by field ("judge.name").
func Merge(base, local, remote map[string]any, prefer map[string]Prefer) (merged map[string]any, conflicts []string) {
	merged = map[string]any{}
	mergeInto(merged, "", base, local, remote, prefer, &conflicts)
	sort.Strings(conflicts)
	return merged, conflicts
}

func mergeInto(out map[string]any, prefix string, base, local, remote map[string]any, prefer map[string]Prefer, conflicts *[]string) {
	for _, k := range keys(base, local, remote) {
		name := prefix + k
		b, bok := base[k]
		l, lok := local[k]
		r, rok := remote[k]
		lm, lIsMap := l.(map[string]any)
		rm, rIsMap := r.(map[string]any)
		if lIsMap && rIsMap {
			bm, _ := b.(map[string]any)
			sub := map[string]any{}
			mergeInto(sub, name+".", bm, lm, rm, prefer, conflicts)
			out[k] = sub
			continue
		}
		localChanged := lok != bok || !reflect.DeepEqual(l, b)
		remoteChanged := rok != bok || !reflect.DeepEqual(r, b)
		v, ok := r, rok // neither or only they changed: keep theirs
		switch {
		case localChanged && !remoteChanged, localChanged && lok == rok && reflect.DeepEqual(l, r):
			v, ok = l, lok
		case localChanged && remoteChanged:
			switch prefer[name] {
			case PreferLocal:
				v, ok = l, lok
			case PreferRemote:
			default:
				*conflicts = append(*conflicts, name)
			}
		}
		if ok {
			out[k] = v
		}
	}
}

func keys(ms ...map[string]any) []string {
	seen := map[string]bool{}
	var out []string
	for _, m := range ms {
		for k := range m {
			if !seen[k] {
				seen[k] = true
				out = append(out, k)
			}
		}
	}
	sort.Strings(out)
	return out
}
