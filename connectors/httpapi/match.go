package httpapi

import (
	"fmt"

	"github.com/hms/extsync/pkg/config"
)

// parseMatch reads http.conflict_match, a condition over a refusal's JSON
// body (config.Condition); "" is no match at all.
func parseMatch(expr string) (*config.Condition, error) {
	c, err := config.ParseCondition(expr)
	if err != nil {
		return nil, fmt.Errorf("http.conflict_match %w", err)
	}
	return c, nil
}
