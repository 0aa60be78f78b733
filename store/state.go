package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// maxStateLen bounds one state value.
const maxStateLen = 1 << 20

// PutState keeps value under key until expires, replacing any earlier
// value; expired values are dropped as new ones are put. It is for small
// pieces of the gateway's own state that must survive a restart.
func (s *Store) PutState(ctx context.Context, key string, value []byte, expires time.Time) error {
	if key == "" || len(key) > maxNameLen || len(value) > maxStateLen {
		return fmt.Errorf("%w: state key empty or too long, or value over %d bytes", ErrInvalid, maxStateLen)
	}
	return s.withTx(ctx, "put state", func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, "DELETE FROM state WHERE expires <= ?", msec(s.opts.Now())); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, "INSERT OR REPLACE INTO state (key, value, expires) VALUES (?, ?, ?)",
			key, value, msec(expires))
		return err
	})
}

// TakeState returns the value kept under key and removes it, so a value is
// taken at most once. It returns ErrNotFound when there is none or it has
// expired.
func (s *Store) TakeState(ctx context.Context, key string) ([]byte, error) {
	var value []byte
	var expires int64
	err := s.withTx(ctx, "take state", func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, "SELECT value, expires FROM state WHERE key = ?", key).Scan(&value, &expires)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, "DELETE FROM state WHERE key = ?", key)
		return err
	})
	if err != nil {
		return nil, err
	}
	if expires <= msec(s.opts.Now()) {
		return nil, fmt.Errorf("%w: state %q expired", ErrNotFound, key)
	}
	return value, nil
}
