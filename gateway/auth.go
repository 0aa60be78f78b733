package gateway

import (
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Role is what an authenticated user may do.
type Role string

// The roles: a viewer reads, an operator also sends commands and changes
// alert rules.
const (
	RoleViewer   Role = "viewer"
	RoleOperator Role = "operator"
)

// Can reports whether r includes the rights of want.
func (r Role) Can(want Role) bool {
	switch want {
	case RoleViewer:
		return r == RoleViewer || r == RoleOperator
	case RoleOperator:
		return r == RoleOperator
	}
	return false
}

// Auth errors.
var (
	ErrUnauthorized = errors.New("gateway: unauthorized")
	ErrBadHash      = errors.New("gateway: malformed password hash")
)

// pbkdf2Iter is the PBKDF2-SHA256 work factor for new hashes: about 0.1 s on
// a Raspberry Pi 4, which bounds brute force without making login sluggish.
const pbkdf2Iter = 120_000

// HashPassword returns a self-describing hash of password for the config
// file: "pbkdf2-sha256$<iterations>$<salt>$<key>", base64url without padding.
func HashPassword(password string) (string, error) {
	salt := make([]byte, 16)
	rand.Read(salt)
	key, err := pbkdf2.Key(sha256.New, password, salt, pbkdf2Iter, 32)
	if err != nil {
		return "", err
	}
	enc := base64.RawURLEncoding
	return fmt.Sprintf("pbkdf2-sha256$%d$%s$%s", pbkdf2Iter, enc.EncodeToString(salt), enc.EncodeToString(key)), nil
}

// CheckPassword reports whether password matches hash, in constant time with
// respect to the key. A malformed hash is an error, never a match.
func CheckPassword(hash, password string) (bool, error) {
	parts := strings.Split(hash, "$")
	if len(parts) != 4 || parts[0] != "pbkdf2-sha256" {
		return false, ErrBadHash
	}
	iter, err := strconv.Atoi(parts[1])
	if err != nil || iter < 1000 || iter > 10_000_000 {
		return false, ErrBadHash
	}
	enc := base64.RawURLEncoding
	salt, err1 := enc.DecodeString(parts[2])
	want, err2 := enc.DecodeString(parts[3])
	if err1 != nil || err2 != nil || len(want) == 0 {
		return false, ErrBadHash
	}
	got, err := pbkdf2.Key(sha256.New, password, salt, iter, len(want))
	if err != nil {
		return false, err
	}
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

// Tokens issues and checks session tokens: HMAC-SHA256 signed claims, so
// they survive a gateway restart as long as the key does, and need no table.
// A Tokens is safe for concurrent use.
type Tokens struct {
	key []byte
	now func() time.Time
}

// NewTokens returns a Tokens signing with key (at least 32 bytes).
func NewTokens(key []byte, now func() time.Time) (*Tokens, error) {
	if len(key) < 32 {
		return nil, errors.New("gateway: token key shorter than 32 bytes")
	}
	if now == nil {
		now = time.Now
	}
	return &Tokens{key: key, now: now}, nil
}

type claims struct {
	Role    Role   `json:"r"`
	Subject string `json:"s"`
	Expires int64  `json:"e"`
}

// Issue returns a token for subject with role, valid for ttl.
func (t *Tokens) Issue(subject string, role Role, ttl time.Duration) (token string, expires time.Time) {
	expires = t.now().Add(ttl)
	body, _ := json.Marshal(claims{Role: role, Subject: subject, Expires: expires.Unix()})
	enc := base64.RawURLEncoding
	payload := enc.EncodeToString(body)
	return payload + "." + enc.EncodeToString(t.sign(payload)), expires
}

// Check returns the subject and role of a valid, unexpired token.
func (t *Tokens) Check(token string) (subject string, role Role, err error) {
	payload, sig, ok := strings.Cut(token, ".")
	if !ok {
		return "", "", ErrUnauthorized
	}
	enc := base64.RawURLEncoding
	got, err := enc.DecodeString(sig)
	if err != nil || !hmac.Equal(got, t.sign(payload)) {
		return "", "", ErrUnauthorized
	}
	body, err := enc.DecodeString(payload)
	if err != nil {
		return "", "", ErrUnauthorized
	}
	var c claims
	if json.Unmarshal(body, &c) != nil || t.now().Unix() >= c.Expires || !(c.Role == RoleViewer || c.Role == RoleOperator) {
		return "", "", ErrUnauthorized
	}
	return c.Subject, c.Role, nil
}

func (t *Tokens) sign(payload string) []byte {
	m := hmac.New(sha256.New, t.key)
	m.Write([]byte(payload))
	return m.Sum(nil)
}
