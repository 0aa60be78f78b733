package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// maxRuleSpecLen bounds one alert rule's spec; a rule is a few hundred bytes.
const maxRuleSpecLen = 64 << 10

// AlertRule is an alert rule kept for the gateway, which alone knows what
// Spec says: the store keeps it as given, by name.
type AlertRule struct {
	// Name identifies the rule: putting one of the same name replaces it.
	Name string
	// Spec is the rule itself, opaque to the store (the gateway's JSON).
	Spec []byte
	// UpdatedBy names who last put the rule.
	UpdatedBy string
	// Updated is when the rule was last put; PutAlertRule fills a zero one
	// with the store's clock.
	Updated time.Time
}

// AlertRules returns every kept alert rule, sorted by name.
func (s *Store) AlertRules(ctx context.Context) ([]AlertRule, error) {
	rows, err := s.rdb.QueryContext(ctx, "SELECT name, spec, updated_by, updated FROM alert_rules ORDER BY name")
	if err != nil {
		return nil, s.fileErr("alert rules", err)
	}
	defer rows.Close()
	var out []AlertRule
	for rows.Next() {
		var r AlertRule
		var updated int64
		if err := rows.Scan(&r.Name, &r.Spec, &r.UpdatedBy, &updated); err != nil {
			return nil, s.fileErr("alert rules", err)
		}
		r.Updated = fromMsec(updated)
		out = append(out, r)
	}
	return out, s.fileErr("alert rules", rows.Err())
}

// PutAlertRule keeps r under its name, replacing any rule of that name.
func (s *Store) PutAlertRule(ctx context.Context, r AlertRule) error {
	if r.Name == "" || len(r.Name) > maxNameLen || len(r.UpdatedBy) > maxNameLen {
		return fmt.Errorf("%w: alert rule name empty, or name or updater longer than %d bytes", ErrInvalid, maxNameLen)
	}
	if len(r.Spec) == 0 || len(r.Spec) > maxRuleSpecLen {
		return fmt.Errorf("%w: alert rule %q: spec empty or over %d bytes", ErrInvalid, r.Name, maxRuleSpecLen)
	}
	if r.Updated.IsZero() {
		r.Updated = s.opts.Now()
	}
	return s.withTx(ctx, "put alert rule", func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, "INSERT OR REPLACE INTO alert_rules (name, spec, updated_by, updated) VALUES (?, ?, ?, ?)",
			r.Name, r.Spec, r.UpdatedBy, msec(r.Updated))
		return err
	})
}

// DeleteAlertRule removes the rule called name and reports whether there
// was one.
func (s *Store) DeleteAlertRule(ctx context.Context, name string) (bool, error) {
	var n int64
	err := s.withTx(ctx, "delete alert rule", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "DELETE FROM alert_rules WHERE name = ?", name)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	return n > 0, err
}
